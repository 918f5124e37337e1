"""Tests for hvae.evaluate: the importance-sampled log-likelihood, ELBO terms, k-NN accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal

from hvae.data import fixed_binarization, load_mnist
from hvae.evaluate import (
    balanced_subset,
    elbo_terms,
    evaluate,
    iw_log_likelihood,
    knn_accuracy,
    latent_codes,
    summarize_examples,
)
from hvae.models import VAE


def _paired(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean of a - b and its standard error."""
    d = (a - b).double()
    return d.mean().item(), d.std().item() / math.sqrt(d.numel())


@pytest.fixture(scope="module")
def subset() -> tuple[np.ndarray, np.ndarray]:
    split = load_mnist(split="train", source="mnist-5k-subset")
    return split.images, split.labels


@pytest.fixture(scope="module", params=["normal", "vmf"])
def trained(request, subset) -> tuple[VAE, torch.Tensor]:
    """A small model after 150 Adam steps on 512 digits, and 200 other binarised digits."""
    images, _ = subset
    x_train = fixed_binarization(images[:512], seed=0)
    torch.manual_seed(0)
    model = VAE(request.param, 5, hidden=(64, 32))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(150):
        start = (step * 64) % 512
        loss = model.loss(x_train[start : start + 64])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, fixed_binarization(images[1000:1200], seed=1)


# ------------------------------------------------------------------------------------------
# The importance-sampled bound on a trained VAE
# ------------------------------------------------------------------------------------------


def test_iw_estimate_is_above_the_elbo_and_tightens_with_s(trained) -> None:
    """E[LL_S] >= ELBO and E[LL_S] is non-decreasing in S (Burda et al.). Each comparison is a
    paired mean over 200 digits; we allow it to fall short by 3 standard errors at most."""
    model, x = trained
    rec, kl = elbo_terms(model, x, seed=0)
    elbo = rec - kl
    ll = {s: iw_log_likelihood(model, x, s, seed=3) for s in (1, 10, 100)}
    for s in (10, 100):
        mean, se = _paired(ll[s], elbo)
        assert mean > -3 * se, (s, mean, se)
    for small, large in [(1, 10), (10, 100)]:
        mean, se = _paired(ll[large], ll[small])
        assert mean > -3 * se, (small, large, mean, se)
    mean, se = _paired(ll[100], elbo)
    assert mean > 3 * se  # and it is a real improvement, not just "no worse"


def test_single_sample_iw_estimate_matches_the_elbo(trained) -> None:
    """With S = 1 the estimate is log p(x|z) + log p(z) - log q(z|x), an unbiased estimate of
    the ELBO computed with the closed-form KL: this ties log_prob, the prior and the KL together
    (a wrong normaliser or dimension in any of them would show as an offset)."""
    model, x = trained
    rec, kl = elbo_terms(model, x, seed=0)
    mean, se = _paired(iw_log_likelihood(model, x, 1, seed=7), rec - kl)
    assert abs(mean) < 4 * se + 0.05, (mean, se)


def test_iw_is_seeded_and_leaves_the_global_rng_alone(trained) -> None:
    model, x = trained
    state = torch.get_rng_state()
    a = iw_log_likelihood(model, x[:20], 30, seed=5, sample_chunk=7)
    b = iw_log_likelihood(model, x[:20], 30, seed=5, sample_chunk=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)
    assert not torch.equal(a, iw_log_likelihood(model, x[:20], 30, seed=6, sample_chunk=7))


def test_iw_refuses_the_autoencoder_and_bad_arguments() -> None:
    model = VAE("ae", 2, hidden=(8,))
    x = torch.zeros(3, 784)
    with pytest.raises(ValueError, match="ae"):
        iw_log_likelihood(model, x, 10)
    with pytest.raises(ValueError, match="n_samples"):
        iw_log_likelihood(VAE("normal", 2, hidden=(8,)), x, 0)


# ------------------------------------------------------------------------------------------
# The importance-sampled estimate where log p(x) is known: a linear-Gaussian model
# ------------------------------------------------------------------------------------------


class LinearGaussian(nn.Module):
    """p(z) = N(0, I_2), p(x|z) = N(Wz + b, s^2 I_4), so p(x) = N(b, W W^T + s^2 I) exactly.

    The encoder is the exact posterior N(m(x), S), S = (I + W^T W / s^2)^-1,
    m(x) = S W^T (x - b) / s^2, optionally shifted and widened to make it inexact.
    """

    def __init__(self, shift: float = 0.0, widen: float = 1.0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.w = torch.randn(4, 2, generator=gen, dtype=torch.float64)
        self.b = torch.randn(4, generator=gen, dtype=torch.float64)
        self.s = 0.7
        precision = torch.eye(2, dtype=torch.float64) + self.w.T @ self.w / self.s**2
        self.cov = torch.linalg.inv(precision)
        self.shift, self.widen = shift, widen

    def encode(self, x: torch.Tensor) -> MultivariateNormal:
        mean = (x - self.b) @ self.w @ self.cov.T / self.s**2
        tril = torch.linalg.cholesky(self.cov) * self.widen
        return MultivariateNormal(mean + self.shift, scale_tril=tril)

    def prior(self, device=None, dtype=None) -> MultivariateNormal:
        return MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.eye(2).double())

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.w.T + self.b

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return Normal(out, self.s).log_prob(x).sum(-1)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.w @ self.w.T + self.s**2 * torch.eye(4, dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x)


@pytest.fixture(scope="module")
def points() -> torch.Tensor:
    return 2 * torch.randn(50, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize(("n_samples", "chunk"), [(1, 50), (10, 3), (12, 4), (7, 100)])
def test_iw_is_exact_with_the_exact_posterior(points, n_samples: int, chunk: int) -> None:
    """With q = p(z|x) every importance weight equals p(x): the estimate is exact for any S,
    however the samples are split into chunks."""
    model = LinearGaussian()
    estimate = iw_log_likelihood(model, points, n_samples, sample_chunk=chunk, batch_size=16)
    torch.testing.assert_close(estimate, model.log_marginal(points), atol=1e-9, rtol=0)


def test_iw_converges_to_log_px_with_an_inexact_posterior(points) -> None:
    model = LinearGaussian(shift=0.5, widen=1.5)
    exact = model.log_marginal(points)
    gap_1 = (iw_log_likelihood(model, points, 1) - exact).mean()
    gap_2000 = iw_log_likelihood(model, points, 2000, sample_chunk=300) - exact
    assert gap_1 < -1.0  # the ELBO is well below log p(x): KL(q || posterior) is large
    assert abs(gap_2000.mean()) < 0.05
    assert gap_2000.abs().max() < 0.5


# ------------------------------------------------------------------------------------------
# Reports, binarisation, codes
# ------------------------------------------------------------------------------------------


def test_fixed_binarization_is_seeded(subset) -> None:
    images = subset[0][:200]
    a, b = fixed_binarization(images, 3), fixed_binarization(images, 3)
    assert torch.equal(a, b) and not torch.equal(a, fixed_binarization(images, 4))
    assert set(torch.unique(a).tolist()) <= {0.0, 1.0}
    # each pixel is Bernoulli(intensity): the totals agree to a few standard deviations
    total, expected = a.sum().item(), float(images.sum())
    assert abs(total - expected) < 5 * math.sqrt(expected)


def test_evaluate_report(trained, subset) -> None:
    model, _ = trained
    report = evaluate(model, subset[0][:40], iw_samples=20, seed=0)
    assert report["n"] == 40 and report["iw_samples"] == 20
    assert set(report) >= {"LL", "ELBO", "RE", "KL"}
    assert math.isclose(
        report["ELBO"]["mean"], report["RE"]["mean"] - report["KL"]["mean"], abs_tol=1e-9
    )
    assert report["KL"]["mean"] > 0 and report["RE"]["mean"] < 0
    assert report == evaluate(model, subset[0][:40], iw_samples=20, seed=0)  # deterministic


def test_evaluate_autoencoder_has_no_ll() -> None:
    model = VAE("ae", 2, hidden=(8,), input_dim=5, likelihood="gaussian")
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    report = evaluate(model, x, iw_samples=10, binarize=False)
    assert "LL" not in report and "iw_samples" not in report
    assert report["KL"] == {"mean": 0.0, "sem": 0.0}


def test_summarize_examples() -> None:
    s = summarize_examples(np.array([1.0, 2.0, 3.0, 6.0]))
    assert s.mean == 3.0
    assert math.isclose(s.sem, np.std([1, 2, 3, 6], ddof=1) / 2)
    assert f"{s:.1f}" == "3.0 ± 1.1"


def test_latent_codes(subset) -> None:
    torch.manual_seed(0)
    model = VAE("vmf", 3, hidden=(16,))
    codes = latent_codes(model, subset[0][:30], batch_size=7)
    assert codes.shape == (30, 4) and codes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, atol=1e-5)
    # the same codes in other batches (up to float32 rounding of the matrix products)
    np.testing.assert_allclose(codes, latent_codes(model, subset[0][:30]), atol=1e-6)


# ------------------------------------------------------------------------------------------
# Labelled subsets and k-NN
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_labels", [100, 600, 1000])
def test_balanced_subset_is_balanced_and_seeded(subset, n_labels: int) -> None:
    labels = subset[1]
    idx = balanced_subset(labels, n_labels, seed=0)
    assert idx.size == np.unique(idx).size == n_labels
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=10), n_labels // 10)
    np.testing.assert_array_equal(idx, balanced_subset(labels, n_labels, seed=0))
    assert not np.array_equal(idx, balanced_subset(labels, n_labels, seed=1))


def test_balanced_subset_spreads_the_remainder(subset) -> None:
    counts = np.bincount(subset[1][balanced_subset(subset[1], 105, seed=2)], minlength=10)
    assert counts.sum() == 105 and set(counts.tolist()) == {10, 11}


def test_balanced_subset_errors() -> None:
    labels = np.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match="n_labels"):
        balanced_subset(labels, 1)  # fewer than one per class
    with pytest.raises(ValueError, match="class 1"):
        balanced_subset(labels, 4)  # two of class 1 needed, one exists


def test_knn_accuracy_on_separated_and_on_random_labels() -> None:
    rng = np.random.default_rng(0)
    centres = 10 * rng.standard_normal((3, 4))
    train_y, test_y = rng.integers(0, 3, 600), rng.integers(0, 3, 300)
    train_x = centres[train_y] + rng.standard_normal((600, 4))
    test_x = centres[test_y] + rng.standard_normal((300, 4))
    assert knn_accuracy(train_x, train_y, test_x, test_y, 30, k=5) > 0.95
    # codes that carry no information about the labels: chance level (1/3, sd 0.027)
    noise = rng.standard_normal((300, 4))
    assert abs(knn_accuracy(train_x, train_y, noise, test_y, 300, k=5) - 1 / 3) < 0.12
    with pytest.raises(ValueError, match="k"):
        knn_accuracy(train_x, train_y, test_x, test_y, 3, k=5)


def test_clustering_scores_of_a_relabelling_and_of_a_hand_computed_split():
    from hvae.evaluate import clustering_scores

    assert clustering_scores(np.array([0, 0, 1, 2]), np.array([5, 5, 3, 1])) == {
        "acc": 1.0, "ARI": 1.0, "NMI": 1.0}
    # two classes crossed with two clusters, one point per cell: ARI = (0 - 2/3) / (2 - 2/3)
    got = clustering_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    assert got["acc"] == 0.5 and got["ARI"] == pytest.approx(-0.5) and got["NMI"] == 0.0
