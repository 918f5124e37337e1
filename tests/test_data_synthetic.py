"""Tests for hvae.data.synthetic: the circle data of Figure 1 (gaussian_clusters is tested in
tests/test_clustering_helpers.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hvae import data as D


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def test_circle_data_shapes():
    d = D.make_circle_data(n=500, seed=0)
    assert d.x.shape == (500, 100) and d.x.dtype == np.float32
    assert d.labels.shape == (500,) and d.labels.dtype == np.int64
    assert set(np.unique(d.labels).tolist()) == {0, 1, 2}
    assert d.angles.shape == (500,) and np.all(np.abs(d.angles) <= np.pi)


def test_circle_angles_follow_the_stated_mixture():
    n = 3000
    d = D.make_circle_data(n=n, seed=0)
    # component counts against the weights: chi-square, rejected if p < 0.001
    counts = np.bincount(d.labels, minlength=3)
    p_counts = stats.chisquare(counts, n * np.array(D.CIRCLE_WEIGHTS)).pvalue
    assert p_counts > 1e-3, (counts, p_counts)
    # each component's angles against VonMises(mean, kappa): KS test, rejected if p < 0.001
    for k, (mu, kappa) in enumerate(zip(D.CIRCLE_MEANS, D.CIRCLE_KAPPAS, strict=True)):
        centred = _wrap(d.angles[d.labels == k] - mu)
        p = stats.kstest(centred, stats.vonmises(kappa).cdf).pvalue
        assert p > 1e-3, (k, p)
    # the components are well separated: the nearest mean is the true one for > 95%
    dist = np.abs(_wrap(d.angles[:, None] - np.array(D.CIRCLE_MEANS)[None, :]))
    assert (dist.argmin(axis=1) == d.labels).mean() > 0.95


def test_circle_noise_and_fixed_map():
    clean0 = D.make_circle_data(n=400, noise=0.0, seed=0)
    clean1 = D.make_circle_data(n=400, noise=0.0, seed=1)
    # the map does not depend on the sampling seed
    for d in (clean0, clean1):
        np.testing.assert_allclose(d.x, D.circle_map(d.angles), atol=1e-6)
    assert not np.array_equal(clean0.angles, clean1.angles)
    noisy = D.make_circle_data(n=400, noise=0.05, seed=0)
    np.testing.assert_array_equal(noisy.angles, clean0.angles)
    resid = noisy.x - clean0.x
    assert abs(resid.std() - 0.05) < 0.05 * 0.03  # 40,000 draws: relative s.e. ~0.35%
    np.testing.assert_array_equal(D.make_circle_data(n=400, seed=0).x, noisy.x)  # seeded


def test_circle_map_is_nonlinear_and_separates_angles():
    t = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    f = D.circle_map(t)
    assert f.shape == (360, 100) and np.all(np.abs(f) < 1)
    # not an affine function of (cos t, sin t): a least-squares fit leaves > 5% of variance
    basis = np.stack([np.cos(t), np.sin(t), np.ones_like(t)], axis=1)
    coef = np.linalg.lstsq(basis, f, rcond=None)[0]
    r2 = 1 - ((f - basis @ coef) ** 2).sum() / ((f - f.mean(0)) ** 2).sum()
    assert r2 < 0.95
    # angles at least 10 degrees apart map to points at least 0.3 apart (noise default 0.05)
    i = np.arange(360)
    gap = np.abs(i[:, None] - i[None, :])
    gap = np.minimum(gap, 360 - gap)
    dist = np.linalg.norm(f[:, None] - f[None], axis=-1)
    assert dist[gap >= 10].min() > 0.3


def test_circle_data_as_training_set():
    d = D.make_circle_data(n=100, seed=2)
    batches = list(D.make_loader(d.x, batch_size=32, binarize=False, seed=0))
    assert [b.shape[0] for b in batches] == [32, 32, 32, 4]
    got = torch.cat(batches).numpy()
    np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(d.x, axis=0))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0}, "n"),
        ({"noise": -0.1}, "noise"),
        ({"weights": (0.5, 0.5, 0.5)}, "weights"),
        ({"kappas": (1.0, 0.0, 1.0)}, "kappas"),
        ({"means": (0.0, 1.0)}, "means"),
    ],
)
def test_circle_argument_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        D.make_circle_data(**kwargs)
