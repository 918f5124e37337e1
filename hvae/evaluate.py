r"""Evaluation of trained VAEs: ELBO terms, importance-sampled log-likelihood, k-NN accuracy.

**ELBO.** :math:`\mathcal{L}(x) = \mathrm{RE} - \mathrm{KL}` with
:math:`\mathrm{RE} = \log p(x|z),\ z \sim q(z|x)` (one sample) and the closed-form
:math:`\mathrm{KL} = \mathrm{KL}(q(z|x)\,\|\,p(z))` (see :meth:`hvae.models.VAE.terms`).

**Log-likelihood** (the paper's LL column). With :math:`z_1, \dots, z_S \sim q(z|x)`,

.. math::
   \log p(x) &\approx \log \frac1S \sum_{s=1}^S \frac{p(x|z_s)\,p(z_s)}{q(z_s|x)} \\
   &= \operatorname{logsumexp}_s \big[\log p(x|z_s) + \log p(z_s) - \log q(z_s|x)\big] - \log S.

Its expectation is a lower bound on :math:`\log p(x)` that is at least the ELBO (S = 1
gives an estimate of the ELBO itself), does not decrease as S grows and tends to
:math:`\log p(x)` (Burda et al., 2016). The paper uses S = 500. The samples are drawn in chunks
of ``sample_chunk`` and folded into a running log-sum-exp, so memory is bounded by
``batch_size * sample_chunk * input_dim`` numbers whatever S is.

**Reproducibility.** Binary data are evaluated on one *fixed* binarisation
(:func:`hvae.data.fixed_binarization`, seeded), and all latent samples are drawn inside
``torch.random.fork_rng`` from a given seed: results depend only on the model, the data and
the seed, and the caller's random state is left untouched.

**k-NN classification** (the paper's Table 2, "M1 + k-NN"): a k-nearest-neighbour classifier
(scikit-learn, ``k = 5`` by default, Euclidean distance, uniform weights) is fitted on the latent
codes (:meth:`hvae.models.VAE.embed`: μ for the N-VAE, the unit mean direction μ for the S-VAE,
on which Euclidean distance ranks neighbours exactly as the cosine/geodesic distance does) of a
class-balanced labelled subset of the training set (100, 600 or 1000 labels in the paper) and
scored on the codes of the test set.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from hvae.data import as_tensor, fixed_binarization
from hvae.models import Terms

__all__ = [
    "ExampleSummary",
    "balanced_subset",
    "cluster_accuracy",
    "cluster_matching",
    "clustering_scores",
    "elbo_terms",
    "evaluate",
    "iw_log_likelihood",
    "knn_accuracy",
    "latent_codes",
    "summarize_examples",
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with the global torch RNG seeded; restore the caller's state afterwards."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Put the model in eval mode for the block and restore its mode afterwards."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


# --------------------------------------------------------------------------------------------
# ELBO and importance-sampled log-likelihood
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def elbo_terms(
    model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 500, seed: int = 0
) -> Terms:
    """Per-example (RE, KL) of ``x`` (already binarised if need be), as float64 CPU tensors.

    One posterior sample per example, drawn from ``seed``; ``elbo = rec - kl``.
    """
    device = _model_device(model)
    recs, kls = [], []
    with _eval_mode(model), _seeded(seed, device):
        for sl in _batches(x.shape[0], batch_size):
            rec, kl = model.terms(x[sl].to(device))
            recs.append(rec.double().cpu())
            kls.append(kl.double().cpu())
    return Terms(torch.cat(recs), torch.cat(kls))


def _iw_batch(model: torch.nn.Module, x: torch.Tensor, n_samples: int, chunk: int) -> torch.Tensor:
    """logsumexp_s log w_s - log S for one batch, with a running log-sum-exp over chunks."""
    q = model.encode(x)
    prior = model.prior(x.device, x.dtype)
    acc = torch.full(q.batch_shape, -math.inf, dtype=torch.float64, device=x.device)
    for start in range(0, n_samples, chunk):
        z = q.sample((min(chunk, n_samples - start),))  # (c, B, code_dim)
        log_w = model.log_likelihood(x, model.decode(z)) + prior.log_prob(z) - q.log_prob(z)
        acc = torch.logaddexp(acc, torch.logsumexp(log_w.double(), dim=0))
    return acc - math.log(n_samples)


@torch.no_grad()
def iw_log_likelihood(
    model: torch.nn.Module,
    x: torch.Tensor,
    n_samples: int = 500,
    *,
    batch_size: int = 100,
    sample_chunk: int = 50,
    seed: int = 0,
) -> torch.Tensor:
    r"""Importance-sampled estimate of :math:`\log p(x)` per example (float64 CPU tensor).

    ``log p(x) ≈ logsumexp_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)] - log S`` with
    S = ``n_samples`` draws from q(z|x), drawn ``sample_chunk`` at a time for ``batch_size``
    examples at a time (memory ~ ``batch_size * sample_chunk * input_dim``). Deterministic
    for a given ``seed``.

    ``model`` needs ``encode`` (a distribution with ``sample`` and ``log_prob``), ``prior``,
    ``decode`` and ``log_likelihood`` as in :class:`hvae.models.VAE`.

    Raises:
        ValueError: for ``n_samples < 1``, ``sample_chunk < 1`` or a model without a prior
            (the plain auto-encoder).
    """
    if n_samples < 1 or sample_chunk < 1:
        raise ValueError(
            f"n_samples and sample_chunk: must be >= 1, got {n_samples}, {sample_chunk}"
        )
    if getattr(model, "latent", None) == "ae":
        raise ValueError("latent 'ae': a plain auto-encoder defines no likelihood p(x)")
    device = _model_device(model)
    out = []
    with _eval_mode(model), _seeded(seed, device):
        for sl in _batches(x.shape[0], batch_size):
            out.append(_iw_batch(model, x[sl].to(device), n_samples, sample_chunk).cpu())
    return torch.cat(out)


@dataclass(frozen=True)
class ExampleSummary:
    """Mean and standard error of the mean of a per-example quantity."""

    mean: float
    sem: float

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        return f"{self.mean:{spec}} ± {self.sem:{spec}}"


def summarize_examples(values: torch.Tensor | np.ndarray) -> ExampleSummary:
    """Mean and standard error (sample std / sqrt(n); 0 for n = 1) of a 1-D array."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("values: empty")
    sem = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return ExampleSummary(float(v.mean()), sem)


def evaluate(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    iw_samples: int = 500,
    binarize: bool = True,
    seed: int = 0,
    batch_size: int = 100,
    sample_chunk: int = 50,
) -> dict[str, dict[str, float] | int]:
    """The paper's Table 1 columns on ``images``: LL, ELBO (L[q]), RE and KL, in nats.

    ``images`` are intensities; with ``binarize=True`` they are binarised once with ``seed``.
    Returns ``{"n": n, "ELBO": {"mean", "sem"}, "RE": ..., "KL": ..., "LL": ...,
    "iw_samples": S}`` (no ``"LL"`` and ``"iw_samples"`` when ``iw_samples == 0`` or for the
    auto-encoder). The ELBO uses posterior samples drawn from ``seed``, the LL from ``seed + 1``.
    """
    x = fixed_binarization(images, seed) if binarize else as_tensor(images)
    rec, kl = elbo_terms(model, x, batch_size=batch_size, seed=seed)
    report: dict[str, dict[str, float] | int] = {"n": int(x.shape[0])}
    if iw_samples > 0 and getattr(model, "latent", None) != "ae":
        ll = iw_log_likelihood(
            model, x, iw_samples, batch_size=batch_size, sample_chunk=sample_chunk, seed=seed + 1
        )
        report["iw_samples"] = iw_samples
        report["LL"] = asdict(summarize_examples(ll))
    report["ELBO"] = asdict(summarize_examples(rec - kl))
    report["RE"] = asdict(summarize_examples(rec))
    report["KL"] = asdict(summarize_examples(kl))
    return report


# --------------------------------------------------------------------------------------------
# Latent codes and k-NN classification
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def latent_codes(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    binarize: bool = True,
    seed: int = 0,
    batch_size: int = 1000,
) -> np.ndarray:
    """Deterministic latent codes ``model.embed(x)``, float32 array (n, code_dim).

    With ``binarize=True`` the encoder sees one fixed binarisation (``seed``) of the
    intensities, i.e. inputs like those it was trained on.
    """
    x = fixed_binarization(images, seed) if binarize else as_tensor(images)
    device = _model_device(model)
    with _eval_mode(model):
        codes = [model.embed(x[sl].to(device)).cpu() for sl in _batches(x.shape[0], batch_size)]
    return torch.cat(codes).numpy()


def balanced_subset(labels: np.ndarray, n_labels: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n_labels`` examples, as balanced over the classes as possible, seeded.

    Each of the C classes gets ``n_labels // C`` examples; the remaining ``n_labels % C`` go to
    classes chosen at random. Returns sorted indices into ``labels``.

    Raises:
        ValueError: if ``n_labels`` is not in [C, n] or a class has too few examples.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if not classes.size <= n_labels <= labels.size:
        raise ValueError(
            f"n_labels: must be between {classes.size} (one per class) and {labels.size}, "
            f"got {n_labels}"
        )
    rng = np.random.default_rng(seed)
    per_class = np.full(classes.size, n_labels // classes.size)
    per_class[rng.choice(classes.size, n_labels % classes.size, replace=False)] += 1
    picked = []
    for cls, k in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == cls)
        if members.size < k:
            raise ValueError(f"n_labels: class {cls} has {members.size} examples, need {k}")
        picked.append(rng.choice(members, k, replace=False))
    return np.sort(np.concatenate(picked))


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    n_labels: int,
    *,
    k: int = 5,
    metric: str = "euclidean",
    seed: int = 0,
) -> float:
    """Accuracy (in [0, 1]) of k-NN on ``test_codes``, fitted on ``n_labels`` training codes.

    The labelled examples are a class-balanced, seeded subset of the training set
    (:func:`balanced_subset`); the classifier is scikit-learn's ``KNeighborsClassifier`` with
    ``n_neighbors=k``, the given ``metric`` and uniform weights.
    """
    if not 1 <= k <= n_labels:
        raise ValueError(f"k: must be between 1 and n_labels={n_labels}, got {k}")
    from sklearn.neighbors import KNeighborsClassifier  # slow to import: only when needed

    idx = balanced_subset(train_labels, n_labels, seed)
    clf = KNeighborsClassifier(n_neighbors=k, metric=metric)
    clf.fit(np.asarray(train_codes)[idx], np.asarray(train_labels)[idx])
    return float(clf.score(np.asarray(test_codes), np.asarray(test_labels)))


# --------------------------------------------------------------------------------------------
# Clustering accuracy
# --------------------------------------------------------------------------------------------


def cluster_accuracy(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    r"""Accuracy of a clustering after the best one-to-one matching of clusters to classes.

    A clusterer's labels are arbitrary: cluster 3 may be class 0. With the contingency table
    :math:`N_{ck}` (points of class c put in cluster k), the accuracy is

    .. math::
       \max_{\sigma} \frac1n \sum_k N_{\sigma(k)\,k},

    the maximum over one-to-one maps :math:`\sigma` from clusters to classes, found by the
    Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`). With more clusters
    than classes the points of the clusters left unmatched count as errors; with fewer, the
    classes left unmatched do. Labels may be any integers (or other hashable values numpy can
    sort); they are compared only for equality.

    Args:
        labels_true: (n,) the true classes.
        labels_pred: (n,) the cluster of each point.

    Returns:
        The accuracy in [0, 1] (1 for a relabelling of the true classes).

    Raises:
        ValueError: if the arrays are not 1-D of the same non-zero length.
    """
    matched, _ = _matching(labels_true, labels_pred)
    return float(matched / np.asarray(labels_true).size)


def cluster_matching(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict:
    """The best one-to-one map from clusters to classes, ``{cluster: class}``, the matching of
    :func:`cluster_accuracy` (clusters left unmatched, when there are more clusters than
    classes, are not in the dict). Raises ``ValueError`` as :func:`cluster_accuracy`."""
    return _matching(labels_true, labels_pred)[1]


def _matching(labels_true, labels_pred) -> tuple[int, dict]:
    """(number of points on the matched pairs, {cluster: class}) by the Hungarian algorithm
    on the contingency table."""
    true = np.asarray(labels_true)
    pred = np.asarray(labels_pred)
    if true.ndim != 1 or pred.ndim != 1 or true.shape != pred.shape or true.size == 0:
        raise ValueError(f"labels_true, labels_pred: need two 1-D arrays of the same non-zero "
                         f"length, got shapes {true.shape} and {pred.shape}")
    classes, true_idx = np.unique(true, return_inverse=True)
    clusters, pred_idx = np.unique(pred, return_inverse=True)
    table = np.zeros((classes.size, clusters.size), dtype=np.int64)
    np.add.at(table, (true_idx.ravel(), pred_idx.ravel()), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    mapping = {clusters[c].item(): classes[r].item() for r, c in zip(rows, cols, strict=True)}
    return int(table[rows, cols].sum()), mapping



def clustering_scores(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict[str, float]:
    """Matched accuracy (:func:`cluster_accuracy`), adjusted Rand index and normalised mutual
    information (scikit-learn's) of a clustering: ``{"acc", "ARI", "NMI"}``, each 1 for a
    relabelling of the true classes."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {"acc": cluster_accuracy(labels_true, labels_pred),
            "ARI": float(adjusted_rand_score(labels_true, labels_pred)),
            "NMI": float(normalized_mutual_info_score(labels_true, labels_pred))}
