"""Tests for the clustering chapter's helpers: hvae.data.gaussian_clusters and
hvae.evaluate.cluster_accuracy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hvae.data import GaussianClusters, gaussian_clusters
from hvae.evaluate import cluster_accuracy

SPLITS = ("train", "validation", "test")


# ------------------------------------------------------------------------------------------
# gaussian_clusters
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> GaussianClusters:
    return gaussian_clusters(1000, 4, 50, separation=6.0, n_components=10, random_state=3)


def test_shapes_dtypes_and_sizes(data):
    assert data.sizes == {"train": 600, "validation": 200, "test": 200}
    assert data.n_clusters == 4 and data.n_components == 10 and data.dim == 50
    for s in SPLITS:
        assert data.x[s].shape == (data.sizes[s], 10) and data.x[s].dtype == np.float32
        assert data.labels[s].shape == (data.sizes[s],) and data.labels[s].dtype == np.int64
        assert set(np.unique(data.labels[s])) == {0, 1, 2, 3}
    assert data.centres.shape == (4, 50)
    assert data.explained_variance_ratio.shape == (10,)


def test_centres_are_equally_separated(data):
    dist = np.linalg.norm(data.centres[:, None] - data.centres[None], axis=-1)
    off = dist[~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(off, 6.0, rtol=1e-12)


def test_labels_are_balanced(data):
    everything = np.concatenate([data.labels[s] for s in SPLITS])
    counts = np.bincount(everything)
    assert counts.max() - counts.min() <= 1  # exactly balanced overall
    for s in SPLITS:  # and stratified: each split within a couple of points of its share
        share = np.bincount(data.labels[s], minlength=4)
        assert np.all(np.abs(share - data.sizes[s] / 4) <= 2)


def test_training_split_is_standardised_with_one_common_scale(data):
    x = data.x["train"].astype(np.float64)
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.var(0).mean(), 1.0, rtol=1e-5)
    # one scale for all components: their variances keep the proportions PCA found
    ratio = data.explained_variance_ratio
    np.testing.assert_allclose(x.var(0) / x.var(0).sum(), ratio / ratio.sum(), rtol=1e-4)


def test_per_component_standardisation_whitens_the_training_split():
    data = gaussian_clusters(1000, 4, 50, separation=6.0, n_components=10, random_state=3,
                             standardize="per-component")
    x = data.x["train"].astype(np.float64)
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(0), 1.0, rtol=1e-5)


def test_the_standardisations_differ_only_in_scale(data):
    raw = gaussian_clusters(1000, 4, 50, separation=6.0, n_components=10, random_state=3,
                            standardize=None)
    np.testing.assert_array_equal(raw.labels["test"], data.labels["test"])
    # same PCA coordinates up to the training mean and one common factor
    mean = raw.x["train"].astype(np.float64).mean(0)
    factor = (raw.x["test"] - mean) / data.x["test"].astype(np.float64)
    np.testing.assert_allclose(factor, factor.flat[0], rtol=1e-4)


def test_pca_is_ordered_and_finds_the_cluster_directions(data):
    ratio = data.explained_variance_ratio
    assert np.all(np.diff(ratio) <= 0) and 0 < ratio.sum() <= 1
    # the K - 1 = 3 between-cluster directions dominate: separation 6 gives them variance
    # 1 + 36/8 = 5.5 (per direction, for 4 equally likely centres), the noise 1
    assert ratio[:3].sum() > 3 * ratio[3:6].sum()


def test_splits_are_disjoint_points():
    data = gaussian_clusters(300, 3, 20, separation=5.0, n_components=5, random_state=0,
                             standardize=None)
    rows = [tuple(r) for s in SPLITS for r in data.x[s]]
    assert len(set(rows)) == len(rows) == 300


def test_without_standardisation_pca_keeps_the_cluster_means():
    data = gaussian_clusters(3000, 3, 30, separation=10.0, n_components=2, random_state=1,
                             standardize=None)
    # the projected cluster means of the training data are about separation apart
    x, y = data.x["train"].astype(np.float64), data.labels["train"]
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)[~np.eye(3, dtype=bool)]
    np.testing.assert_allclose(dist, 10.0, rtol=0.05)


def test_same_seed_same_arrays_other_seed_other_arrays():
    a = gaussian_clusters(400, 3, 20, separation=5.0, n_components=4, random_state=7)
    b = gaussian_clusters(400, 3, 20, separation=5.0, n_components=4, random_state=7)
    c = gaussian_clusters(400, 3, 20, separation=5.0, n_components=4, random_state=8)
    for s in SPLITS:
        np.testing.assert_array_equal(a.x[s], b.x[s])
        np.testing.assert_array_equal(a.labels[s], b.labels[s])
    np.testing.assert_array_equal(a.centres, b.centres)
    assert not np.array_equal(a.x["train"], c.x["train"])


def test_custom_split_fractions():
    data = gaussian_clusters(100, 2, 10, separation=4.0, n_components=3, random_state=0,
                             split=(0.5, 0.25, 0.25))
    assert data.sizes == {"train": 50, "validation": 25, "test": 25}


def test_well_separated_clusters_are_separable_after_pca():
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    data = gaussian_clusters(1500, 5, 100, separation=8.0, n_components=20, random_state=0)
    km = KMeans(5, n_init=5, random_state=0).fit(data.x["train"])
    assert adjusted_rand_score(data.labels["test"], km.predict(data.x["test"])) > 0.95


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_samples": 10.0},
        {"n_clusters": 0},
        {"n_clusters": 30, "dim": 20},
        {"dim": True},
        {"n_components": 0},
        {"n_components": 200},
        {"separation": 0.0},
        {"separation": -1.0},
        {"separation": math.inf},
        {"separation": "8"},
        {"random_state": 1.5},
        {"split": (0.6, 0.4)},
        {"split": (0.6, 0.3, 0.3)},
        {"split": (1.0, 0.0, 0.0)},
        {"standardize": "whiten"},
        {"standardize": True},
        {"n_samples": 12, "n_clusters": 5},  # validation/test splits of 2 points < 5 clusters
        {"n_samples": 30, "n_components": 20, "n_clusters": 2},  # 18 training points < 20
    ],
)
def test_bad_arguments_raise(kwargs):
    args = {"n_samples": 300, "n_clusters": 3, "dim": 100, "separation": 5.0,
            "n_components": 10, "random_state": 0} | kwargs
    n_samples, n_clusters, dim = args.pop("n_samples"), args.pop("n_clusters"), args.pop("dim")
    with pytest.raises(ValueError):
        gaussian_clusters(n_samples, n_clusters, dim, **args)


# ------------------------------------------------------------------------------------------
# cluster_accuracy
# ------------------------------------------------------------------------------------------


def _brute_force(true, pred) -> float:
    """Best accuracy over every injective relabelling of the clusters (by enumeration)."""
    classes, clusters = sorted(set(true)), sorted(set(pred))
    best = 0
    # assign each cluster a distinct class or "none" (unmatched): pad the classes with Nones
    targets = classes + [None] * len(clusters)
    for perm in itertools.permutations(targets, len(clusters)):
        mapping = dict(zip(clusters, perm, strict=True))
        best = max(best, sum(mapping[p] == t for t, p in zip(true, pred, strict=True)))
    return best / len(true)


def test_identical_and_permuted_labels_score_one():
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    assert cluster_accuracy(true, true) == 1.0
    perm = np.array([2, 0, 1])  # cluster = perm[class]
    assert cluster_accuracy(true, perm[true]) == 1.0
    assert cluster_accuracy(true, np.array([7, 7, -1, -1, 4, 4, 4])) == 1.0  # any label values


def test_hand_computed_cases():
    # one point of class 1 put with class 0's cluster: 5 of 6 right
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [5, 5, 5, 5, 9, 9]) == pytest.approx(5 / 6)
    # one cluster for everything: only the largest class can be matched
    assert cluster_accuracy([0, 0, 0, 1, 1, 2], [0, 0, 0, 0, 0, 0]) == pytest.approx(3 / 6)
    # more clusters than classes: the extra cluster's points count as errors
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 2, 2, 2]) == pytest.approx(5 / 6)
    # the greedy choice (cluster 0 -> class 0, its largest) is not the optimum here:
    # table rows = classes, columns = clusters: [[3, 2], [3, 0]]; greedy gives 3 + 0 = 3,
    # the best matching 2 + 3 = 5
    true = [0, 0, 0, 0, 0, 1, 1, 1]
    pred = [0, 0, 0, 1, 1, 0, 0, 0]
    assert cluster_accuracy(true, pred) == pytest.approx(5 / 8)
    assert cluster_accuracy(np.array([3]), np.array([8])) == 1.0


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    n_classes, n_clusters = (int(k) for k in rng.integers(1, 5, size=2))
    true = rng.integers(0, n_classes, n).tolist()
    pred = (rng.integers(0, n_clusters, n) * 10 + 3).tolist()
    assert cluster_accuracy(true, pred) == pytest.approx(_brute_force(true, pred), abs=1e-15)


def test_symmetric_in_its_arguments_and_accepts_strings():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 50), rng.integers(0, 3, 50)
    assert cluster_accuracy(a, b) == cluster_accuracy(b, a)
    assert cluster_accuracy(["a", "b", "b"], ["x", "y", "y"]) == 1.0


@pytest.mark.parametrize(
    "true, pred",
    [([], []), ([0, 1], [0]), ([[0, 1]], [[0, 1]]), ([0, 1, 2], [[0, 1, 2]])],
)
def test_bad_shapes_raise(true, pred):
    with pytest.raises(ValueError):
        cluster_accuracy(true, pred)


def test_cluster_matching_is_the_permutation_behind_the_accuracy():
    from hvae.evaluate import cluster_matching

    true = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([5, 5, 3, 3, 7, 7, 3])  # 5 -> 0, 3 -> 1, 7 -> 2
    assert cluster_matching(true, pred) == {5: 0, 3: 1, 7: 2}
    # more clusters than classes: the smallest cluster stays unmatched
    assert cluster_matching(np.array([0, 0, 1, 1]), np.array([4, 4, 6, 9])) in (
        {4: 0, 6: 1}, {4: 0, 9: 1})
