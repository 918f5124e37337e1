"""Synthetic data sets: the circle data of the paper's Figure 1 and Gaussian clusters.

* **The circle data** (:func:`make_circle_data`): angles from a mixture of three von Mises
  distributions on S^1, pushed through a fixed, seeded, noisy non-linear map into R^100
  (:func:`circle_map`); :data:`CIRCLE_SPLITS` fixes the size and sampling seed of the train,
  validation and test samples.
* **Gaussian clusters reduced by PCA** (:func:`gaussian_clusters`): K isotropic Gaussian
  clusters in a high dimension with equal pairwise distances between their centres, split
  into stratified train/validation/test sets and projected by a PCA fitted on the training
  split only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hvae._validation import check_choice, check_int, check_number, fail
from hvae.data.mnist import split_indices

__all__ = [
    "CIRCLE_KAPPAS",
    "CIRCLE_MAP_SEED",
    "CIRCLE_MEANS",
    "CIRCLE_SPLITS",
    "CIRCLE_WEIGHTS",
    "CircleData",
    "GaussianClusters",
    "circle_map",
    "gaussian_clusters",
    "make_circle_data",
]

# --------------------------------------------------------------------------------------------
# The circle data of Figure 1
# --------------------------------------------------------------------------------------------

#: Means (radians) of the three von Mises components: 120 degrees apart.
CIRCLE_MEANS: tuple[float, float, float] = (0.0, 2.0 * math.pi / 3.0, -2.0 * math.pi / 3.0)
#: Concentrations of the three components (circular std. dev. about 0.23, 0.32, 0.47 rad).
CIRCLE_KAPPAS: tuple[float, float, float] = (20.0, 10.0, 5.0)
#: Mixture weights.
CIRCLE_WEIGHTS: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
#: Seed of the fixed non-linear map S^1 -> R^100 (independent of the sampling seed).
CIRCLE_MAP_SEED = 2018
_CIRCLE_HIDDEN = 32
#: (number of points, sampling seed) of each split of the circle data: three samples of the
#: same distribution (the map is fixed by :data:`CIRCLE_MAP_SEED`).
CIRCLE_SPLITS: dict[str, tuple[int, int]] = {
    "train": (3000, 0),
    "validation": (500, 1),
    "test": (1000, 2),
}


@dataclass(frozen=True)
class CircleData:
    """Samples of the Figure 1 data set (see :func:`make_circle_data`).

    Attributes:
        x: float32, shape (n, dim): the observed points in R^dim.
        labels: int64, shape (n,): mixture component (0, 1, 2) of each point.
        angles: float64, shape (n,): the true angle in [-pi, pi] of each point on S^1.
        means, kappas, weights: the mixture's parameters.
        noise: standard deviation of the Gaussian noise added in R^dim.
    """

    x: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    angles: np.ndarray = field(repr=False)
    means: tuple[float, ...]
    kappas: tuple[float, ...]
    weights: tuple[float, ...]
    noise: float

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.labels.shape[0])


def circle_map(
    angles: np.ndarray, dim: int = 100, *, map_seed: int = CIRCLE_MAP_SEED
) -> np.ndarray:
    """The fixed noiseless non-linear map from angles on S^1 into R^dim.

    ``f(t) = tanh(W2 relu(W1 [cos t, sin t] + b1) + b2)`` with a hidden layer of 32 units and
    weights drawn once from ``np.random.default_rng(map_seed)``: ``W1 ~ N(0, 2^2)`` (32x2),
    ``b1 ~ N(0, 1)``, ``W2 ~ N(0, 1/32)`` (dim x 32), ``b2 ~ N(0, 0.1^2)``. The paper does not
    publish its map; this one is smooth, clearly non-linear (the ReLUs fold the circle, the
    tanh bends it) and keeps distinct angles apart. Returns float64, shape ``angles.shape +
    (dim,)``.
    """
    dim = check_int(dim, "dim", minimum=1)
    rng = np.random.default_rng(map_seed)
    w1 = rng.normal(0.0, 2.0, size=(_CIRCLE_HIDDEN, 2))
    b1 = rng.normal(0.0, 1.0, size=_CIRCLE_HIDDEN)
    w2 = rng.normal(0.0, 1.0 / math.sqrt(_CIRCLE_HIDDEN), size=(dim, _CIRCLE_HIDDEN))
    b2 = rng.normal(0.0, 0.1, size=dim)
    t = np.asarray(angles, dtype=np.float64)
    u = np.stack([np.cos(t), np.sin(t)], axis=-1)
    hidden = np.maximum(u @ w1.T + b1, 0.0)
    return np.tanh(hidden @ w2.T + b2)


def make_circle_data(
    n: int = 3000,
    noise: float = 0.05,
    seed: int = 0,
    *,
    dim: int = 100,
    means: Sequence[float] = CIRCLE_MEANS,
    kappas: Sequence[float] = CIRCLE_KAPPAS,
    weights: Sequence[float] = CIRCLE_WEIGHTS,
    map_seed: int = CIRCLE_MAP_SEED,
) -> CircleData:
    """Sample the synthetic data of the paper's Figure 1.

    Each point picks a component ``k`` with probability ``weights[k]``, an angle
    ``t ~ VonMises(means[k], kappas[k])`` on S^1 (numpy's sampler, result in [-pi, pi]) and
    is observed as ``x = circle_map(t) + noise * eps`` with ``eps ~ N(0, I_dim)``.

    Defaults: means 0, 2pi/3, -2pi/3 (120 degrees apart); concentrations 20, 10, 5; equal
    weights; ``dim=100`` as in the paper. ``seed`` drives the sampling only: the map is fixed
    by ``map_seed``, so e.g. ``seed=0`` for training and ``seed=1`` for testing give two
    samples of the same distribution. The data are real-valued (pair them with a Gaussian
    likelihood; use ``make_loader(data.x, binarize=False)`` for batches).
    """
    n = check_int(n, "n", minimum=1)
    noise = check_number(noise, "noise", nonnegative=True)
    means_a = np.asarray(means, dtype=np.float64)
    kappas_a = np.asarray(kappas, dtype=np.float64)
    weights_a = np.asarray(weights, dtype=np.float64)
    k = means_a.shape[0]
    if means_a.ndim != 1 or k == 0 or kappas_a.shape != (k,) or weights_a.shape != (k,):
        raise ValueError(
            "means, kappas, weights: must be 1-D sequences of the same non-zero length, got "
            f"lengths {means_a.shape}, {kappas_a.shape}, {weights_a.shape}"
        )
    if np.any(~np.isfinite(kappas_a)) or np.any(kappas_a <= 0):
        raise ValueError(f"kappas: must be finite and > 0, got {kappas_a.tolist()}")
    if np.any(weights_a < 0) or not math.isclose(weights_a.sum(), 1.0, rel_tol=1e-9):
        raise ValueError(f"weights: must be >= 0 and sum to 1, got {weights_a.tolist()}")
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, size=n, p=weights_a)
    angles = rng.vonmises(means_a[labels], kappas_a[labels])
    x = circle_map(angles, dim, map_seed=map_seed)
    if noise > 0:
        x = x + noise * rng.standard_normal(x.shape)
    return CircleData(
        x=x.astype(np.float32),
        labels=labels.astype(np.int64),
        angles=angles,
        means=tuple(float(v) for v in means_a),
        kappas=tuple(float(v) for v in kappas_a),
        weights=tuple(float(v) for v in weights_a),
        noise=float(noise),
    )


# --------------------------------------------------------------------------------------------
# Gaussian clusters reduced by PCA
# --------------------------------------------------------------------------------------------

_CLUSTER_SPLITS = ("train", "validation", "test")
_STANDARDIZE = ("common", "per-component", None)


@dataclass(frozen=True)
class GaussianClusters:
    """The data set of :func:`gaussian_clusters`, split into train/validation/test.

    Attributes:
        x: split name (``"train"``, ``"validation"``, ``"test"``) -> float32 array of shape
            (n_split, n_components): the PCA coordinates, standardised.
        labels: split name -> int64 array of shape (n_split,): the true cluster, 0..K-1.
        centres: float64, shape (K, dim): the cluster centres in the high dimension.
        explained_variance_ratio: float64, shape (n_components,): the share of the training
            data's variance (in R^dim) that each principal component keeps.
        separation: the distance between any two centres, in units of the within-cluster
            standard deviation.
        dim: the dimension in which the clusters are drawn.
        random_state: the seed everything was drawn from.
    """

    x: dict[str, np.ndarray] = field(repr=False)
    labels: dict[str, np.ndarray] = field(repr=False)
    centres: np.ndarray = field(repr=False)
    explained_variance_ratio: np.ndarray = field(repr=False)
    separation: float
    dim: int
    random_state: int

    @property
    def n_clusters(self) -> int:
        """K, the number of clusters."""
        return int(self.centres.shape[0])

    @property
    def n_components(self) -> int:
        """The dimension after PCA (the length of a row of ``x[split]``)."""
        return int(self.explained_variance_ratio.shape[0])

    @property
    def sizes(self) -> dict[str, int]:
        """Number of points of each split."""
        return {name: int(labels.shape[0]) for name, labels in self.labels.items()}


def gaussian_clusters(n_samples: int = 3000, n_clusters: int = 5, dim: int = 100, *,
                      separation: float = 8.0, n_components: int = 20, random_state: int = 0,
                      split: Sequence[float] = (0.6, 0.2, 0.2),
                      standardize: str | None = "common") -> GaussianClusters:
    """K isotropic Gaussian clusters in R^dim, reduced by PCA, with seeded splits.

    Construction (all from ``np.random.default_rng(random_state)``):

    1. **Centres**: ``separation / sqrt(2)`` times K orthonormal vectors of R^dim (the Q factor
       of a Gaussian matrix), so that every two centres are exactly ``separation`` apart.
    2. **Labels**: exactly balanced, point ``i`` of a random order gets cluster ``i mod K``
       (cluster sizes differ by at most one).
    3. **Points**: ``x = centre[label] + eps`` with ``eps ~ N(0, I_dim)``: unit within-cluster
       standard deviation in every direction, so ``separation`` is in units of it.
    4. **Splits**: a seeded split stratified by cluster (:func:`hvae.data.split_indices`) with the
       fractions ``split`` (train, validation, test); the counts are rounded, the test split
       takes the rest.
    5. **PCA** (scikit-learn, exact SVD) to ``n_components`` dimensions, **fitted on the
       training split only** and applied to all three, then standardised with statistics of
       the *training* split only (nothing about the validation or test points enters the
       transform): the PCA coordinates are centred on the training mean and

       * ``standardize="common"`` (default): divided by one common scale, so that the
         training coordinates have unit variance *on average* over the components; the
         relative sizes of the components (what PCA found) are kept;
       * ``standardize="per-component"``: each component divided by its own standard
         deviation (PCA whitening): unit variance in every direction, which makes the noise
         components as large as the cluster components;
       * ``standardize=None``: left in the units of R^dim.

    This is the usual synthetic benchmark for clustering an auto-encoder's codes: Gaussian
    clusters in a high dimension, made lower-dimensional by PCA before the model sees them.
    The K - 1 leading components carry the between-cluster variance (each about
    ``1 + separation**2 / (2K)`` against 1 for a noise component); the others are noise.

    Args:
        n_samples: total number of points (all splits).
        n_clusters: K (1 <= K <= dim).
        dim: the dimension of the space the clusters are drawn in.
        separation: distance between any two centres (> 0, finite), in within-cluster
            standard deviations.
        n_components: the dimension after PCA (1 <= n_components <= dim, and at most the
            number of training points).
        random_state: integer seed of everything.
        split: fractions of (train, validation, test), each > 0, summing to 1.
        standardize: ``"common"``, ``"per-component"`` or None, see step 5.

    Returns:
        A :class:`GaussianClusters`; ``x[s]`` is float32 of shape (n_s, n_components).

    Raises:
        ValueError: for a bad argument, or a split with fewer points than clusters.
    """
    n_samples, n_clusters, dim, n_components, random_state, separation = _cluster_arguments(
        n_samples, n_clusters, dim, n_components, random_state, separation)
    sizes = _cluster_split_sizes(n_samples, n_clusters, split)
    check_choice(standardize, "standardize", _STANDARDIZE)
    if n_components > sizes["train"]:
        raise fail("n_components", f"at most the {sizes['train']} training points", n_components)
    rng = np.random.default_rng(random_state)
    centres, labels, points = _draw_clusters(rng, n_samples, n_clusters, dim, separation)
    split_seed = int(rng.integers(2**63 - 1))
    index = split_indices(labels, sizes, split_seed, stratify=True)
    reduced, explained = _pca_reduce(points, index, n_components)
    if standardize is not None:
        reduced = _standardise(reduced, per_component=standardize == "per-component")
    return GaussianClusters(
        x={s: reduced[s].astype(np.float32) for s in _CLUSTER_SPLITS},
        labels={s: labels[index[s]] for s in _CLUSTER_SPLITS},
        centres=centres,
        explained_variance_ratio=explained,
        separation=separation,
        dim=dim,
        random_state=random_state,
    )


def _cluster_arguments(
    n_samples: int, n_clusters: int, dim: int, n_components: int, random_state: int,
    separation: float,
) -> tuple[int, int, int, int, int, float]:
    """The sizes, seed and separation of :func:`gaussian_clusters`, checked and normalised."""
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_clusters = check_int(n_clusters, "n_clusters", minimum=1)
    dim = check_int(dim, "dim", minimum=1)
    n_components = check_int(n_components, "n_components", minimum=1)
    random_state = check_int(random_state, "random_state")
    if n_clusters > dim:
        raise fail("n_clusters", f"at most dim = {dim} (orthogonal centres)", n_clusters)
    if n_components > dim:
        raise fail("n_components", f"at most dim = {dim}", n_components)
    separation = check_number(separation, "separation", positive=True)
    return n_samples, n_clusters, dim, n_components, random_state, separation


def _cluster_split_sizes(n_samples: int, n_clusters: int, split: Sequence[float]) -> dict[str, int]:
    """Numbers of train/validation/test points: the fractions ``split``, rounded; the test
    split takes the rest. Each split must hold at least one point per cluster."""
    fractions = np.asarray(split, dtype=np.float64)
    if (fractions.shape != (3,) or not np.all(np.isfinite(fractions)) or np.any(fractions <= 0)
            or not math.isclose(float(fractions.sum()), 1.0, rel_tol=1e-9)):
        raise fail("split", "three fractions > 0 summing to 1", split)
    n_train, n_val = (int(round(f * n_samples)) for f in fractions[:2])
    sizes = {"train": n_train, "validation": n_val, "test": n_samples - n_train - n_val}
    if min(sizes.values()) < n_clusters:
        raise fail("n_samples", f"large enough for n_clusters = {n_clusters} points in each "
                   f"split (the splits would be {sizes})", n_samples)
    return sizes


def _draw_clusters(rng: np.random.Generator, n_samples: int, n_clusters: int, dim: int,
                   separation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-3 of :func:`gaussian_clusters`: (centres (K, dim), labels (n,), points (n, dim)).

    The centres are ``separation / sqrt(2)`` times K orthonormal vectors (the Q factor of a
    Gaussian matrix), so that every two of them are ``separation`` apart; the labels are
    balanced (point ``i`` of a random order gets cluster ``i mod K``); each point is its
    centre plus standard Gaussian noise.
    """
    basis, _ = np.linalg.qr(rng.standard_normal((dim, n_clusters)))
    centres = (separation / math.sqrt(2.0)) * basis.T  # (K, dim), pairwise distance separation
    labels = np.empty(n_samples, dtype=np.int64)
    labels[rng.permutation(n_samples)] = np.arange(n_samples) % n_clusters
    points = centres[labels] + rng.standard_normal((n_samples, dim))
    return centres, labels, points


def _pca_reduce(points: np.ndarray, index: dict[str, np.ndarray],
                n_components: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """PCA (exact SVD) fitted on the training split only, applied to every split.

    Returns the reduced splits (float64) and the explained-variance ratio of each component.
    """
    from sklearn.decomposition import PCA  # slow to import: only when needed

    pca = PCA(n_components=n_components, svd_solver="full")
    pca.fit(points[index["train"]])
    reduced = {s: pca.transform(points[index[s]]) for s in _CLUSTER_SPLITS}
    return reduced, np.asarray(pca.explained_variance_ratio_, dtype=np.float64)


def _standardise(reduced: dict[str, np.ndarray], *, per_component: bool) -> dict[str, np.ndarray]:
    """Centre every split on the training mean and divide it by the training scale.

    The scale is each component's own standard deviation (``per_component``) or one common
    scale, the root of the mean variance over the components; a zero scale is left as 1.
    """
    mean = reduced["train"].mean(axis=0)
    var = reduced["train"].var(axis=0)
    scale = np.sqrt(var if per_component else np.full_like(var, var.mean()))
    scale[scale == 0] = 1.0
    return {s: (r - mean) / scale for s, r in reduced.items()}
