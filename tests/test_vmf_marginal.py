"""Tests of hvae.marginal against closed forms, scipy/mpmath quadrature and Monte Carlo.

Every reference is computed here independently of the function under test (closed forms for
d = 2 and d = 3, mpmath quadrature of the unnormalised density, Wood's formulas retyped from the
paper); Monte Carlo checks use fixed seeds and z-scores.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from hvae import marginal
from hvae.distributions import VonMisesFisher
from hvae.sampling import sample_one_minus_w, sample_vmf

mpmath.mp.dps = 30


def _mp_unnormalised_cdf(w: float, kappa: float, d: int) -> tuple[float, float]:
    """(int_{-1}^{w} g, int_{-1}^{1} g) for g(t) = e^{kappa (t-1)} (1-t^2)^{(d-3)/2}, by mpmath
    tanh-sinh quadrature on subintervals one local width of g wide around its mode (d > 3)."""
    def g(t):
        return mpmath.exp(kappa * (t - 1)) * (1 - t * t) ** (mpmath.mpf(d - 3) / 2)
    # mode of g: kappa (1 - t^2) = (d - 3) t;  width 1 / sqrt(-(log g)'') there
    mode = (2 * kappa / ((d - 3) + math.sqrt((d - 3) ** 2 + 4 * kappa**2))) if kappa else 0.0
    width = (1 - mode**2) / math.sqrt((d - 3) * (1 + mode**2))
    pts = np.unique(np.clip(mode + width * np.arange(-12, 13), -1, 1))
    pts = [float(p) for p in np.unique(np.concatenate([[-1.0, 1.0], pts]))]
    total = mpmath.quad(g, pts)
    part = mpmath.quad(g, [p for p in pts if p < w] + [w])
    return float(part), float(total)


# --- the density ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kappa", [0.0, 0.7, 15.0, 400.0])
def test_log_density_d3_closed_form(kappa):
    w = np.linspace(-0.99, 0.99, 7)
    if kappa == 0:
        expected = np.full_like(w, 0.5)
    else:  # kappa e^{kappa w} / (2 sinh kappa) = kappa e^{kappa (w - 1)} / (1 - e^{-2 kappa})
        expected = kappa * np.exp(kappa * (w - 1)) / -np.expm1(-2 * kappa)
    np.testing.assert_allclose(np.exp(marginal.log_density(w, kappa, 3)), expected, rtol=1e-12)


@pytest.mark.parametrize("kappa", [0.0, 0.7, 15.0, 400.0])
def test_log_density_d2_closed_form(kappa):
    """d = 2: w = cos(phi), phi von Mises: f(w) = e^{kappa w} / (pi I_0(kappa) sqrt(1 - w^2))."""
    w = np.linspace(-0.99, 0.99, 7)
    log_expected = (kappa * (w - 1) - math.log(math.pi) - np.log(special.i0e(kappa))
                    - 0.5 * np.log1p(-w * w))
    np.testing.assert_allclose(marginal.log_density(w, kappa, 2), log_expected, rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("d", [4, 5, 10, 50])
@pytest.mark.parametrize("kappa", [0.0, 0.3, 20.0, 500.0])
def test_log_density_normalised_like_mpmath(d, kappa):
    """log f - log g is the normaliser: -log int g, with int g from mpmath."""
    _, total = _mp_unnormalised_cdf(1.0, kappa, d)
    w = np.array([-0.5, 0.0, 0.9])
    log_g = kappa * (w - 1) + 0.5 * (d - 3) * np.log1p(-w * w)
    np.testing.assert_allclose(marginal.log_density(w, kappa, d) - log_g, -math.log(total),
                               rtol=1e-11, atol=1e-11)


def test_theta_density_is_the_w_density_times_the_jacobian():
    theta = np.linspace(0.05, 3.0, 9)
    for d in (2, 3, 7):
        lhs = marginal.log_density_theta(theta, 3.0, d)
        rhs = marginal.log_density(np.cos(theta), 3.0, d) + np.log(np.sin(theta))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


# --- the CDF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kappa", [0.0, 0.5, 30.0, 3000.0])
def test_cdf_d3_closed_form(kappa):
    w = np.array([-1.0, -0.9, 0.0, 0.5, 0.99, 0.999, 1.0])
    if kappa == 0:
        expected_cdf = 0.5 * (w + 1)
        expected_sf = 0.5 * (1 - w)
    else:  # F(w) = (e^{kappa w} - e^{-kappa}) / (e^{kappa} - e^{-kappa})
        expected_cdf = (np.exp(-kappa * (1 - w)) - math.exp(-2 * kappa)) / -math.expm1(
            -2 * kappa)
        expected_sf = -np.expm1(-kappa * (1 - w)) / -math.expm1(-2 * kappa)
    np.testing.assert_allclose(marginal.cdf(w, kappa, 3), expected_cdf, rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(marginal.sf(w, kappa, 3), expected_sf, rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 30.0, 3000.0])
def test_cdf_d2_von_mises(kappa):
    """d = 2: P(w <= cos t) = P(|phi| >= t), phi ~ von Mises(0, kappa) on (-pi, pi]."""
    t = np.array([0.01, 0.3, 1.0, 2.0, 3.1])
    if kappa == 0:
        expected = 1 - t / math.pi
    else:
        expected = 2 * stats.vonmises.sf(t, kappa)
    # scipy's von Mises CDF is accurate to about 1e-13 in absolute terms
    np.testing.assert_allclose(marginal.cdf(np.cos(t), kappa, 2), expected, rtol=1e-9,
                               atol=1e-12)
    # and in the far tail, relative accuracy against mpmath: int_t^pi e^{kappa cos} / (pi I_0)
    for ti in t[2:]:
        ref = mpmath.quad(lambda th: mpmath.exp(kappa * mpmath.cos(th)), [ti, mpmath.pi]) / (
            mpmath.pi * mpmath.besseli(0, kappa))
        assert marginal.cdf(math.cos(ti), kappa, 2) == pytest.approx(float(ref), rel=1e-9)


@pytest.mark.parametrize("d", [5, 10, 50])
@pytest.mark.parametrize("kappa", [0.3, 20.0, 500.0])
def test_cdf_general_d_against_mpmath(d, kappa):
    w_mode = 1 - (d - 1) / (2 * kappa)
    for w in {-0.5, 0.0, min(0.999, max(-0.9, w_mode - 0.01)), min(0.9999, max(-0.9, w_mode))}:
        part, total = _mp_unnormalised_cdf(w, kappa, d)
        assert marginal.cdf(w, kappa, d) == pytest.approx(part / total, rel=1e-9, abs=1e-15)
        assert marginal.sf(w, kappa, d) == pytest.approx(1 - part / total, rel=1e-8, abs=1e-15)


def test_cdf_is_monotone_and_reaches_one():
    w = np.linspace(-1, 1, 2001)
    for d, kappa in [(2, 0.0), (3, 1.0), (6, 0.0), (6, 50.0), (100, 5.0), (1000, 1e4)]:
        f = marginal.cdf(w, kappa, d)
        assert np.all(np.diff(f) >= -1e-15)
        assert f[0] == 0.0
        assert f[-1] == pytest.approx(1.0, abs=1e-11)  # normaliser at kappa = 1e4: ~1e-12


# --- Wood's sampler ------------------------------------------------------------------------------


def _wood_acceptance_by_quadrature(kappa: float, d: int) -> float:
    """P(accept) = int Beta(eps; m/2, m/2) a(w(eps)) d eps, Wood's formulas typed from the paper."""
    m = d - 1
    b = (-2 * kappa + math.sqrt(4 * kappa**2 + m**2)) / m
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + m * math.log(1 - x0**2)

    def integrand(eps):
        w = (1 - (1 + b) * eps) / (1 - (1 - b) * eps)
        return stats.beta.pdf(eps, m / 2, m / 2) * math.exp(kappa * w + m * math.log(
            1 - x0 * w) - c)
    value, _ = integrate.quad(integrand, 0, 1, epsabs=1e-13, epsrel=1e-12, limit=200)
    return value


@pytest.mark.parametrize("d", [3, 5, 10, 40])
@pytest.mark.parametrize("kappa", [0.05, 2.0, 25.0, 300.0])
def test_acceptance_probability_against_quadrature(d, kappa):
    p = float(marginal.wood_acceptance_probability(kappa, d))
    assert p == pytest.approx(_wood_acceptance_by_quadrature(kappa, d), rel=1e-8)


def test_acceptance_probability_limits():
    for d in (2, 3, 10, 500):
        assert float(marginal.wood_acceptance_probability(1e-9, d)) == pytest.approx(1, abs=1e-9)
        p = marginal.wood_acceptance_probability(torch.logspace(-2, 6, 50, dtype=torch.float64),
                                                 d)
        assert torch.all(p <= 1) and torch.all(p > 0.6)
        assert torch.all(p.diff() <= 1e-12)  # decreasing in kappa


@pytest.mark.parametrize(("d", "kappa", "seed"), [(3, 1.0, 0), (5, 8.0, 1), (20, 100.0, 2)])
def test_wood_rejection_counts_and_law(d, kappa, seed):
    n = 20_000
    draws = marginal.wood_rejection(torch.tensor(kappa, dtype=torch.float64), d, n,
                                    np.random.default_rng(seed))
    p = _wood_acceptance_by_quadrature(kappa, d)
    counts = draws.proposals.double()
    # geometric: mean 1/p, variance (1-p)/p^2
    z = (counts.mean().item() - 1 / p) / math.sqrt((1 - p) / p**2 / n)
    assert abs(z) < 4
    w = 1 - draws.one_minus_w.detach().numpy()
    assert stats.kstest(w, lambda x: marginal.cdf(x, kappa, d)).pvalue > 1e-3


def test_hvae_samplers_follow_the_marginal():
    gen = torch.Generator().manual_seed(3)
    for d, kappa, method in [(3, 4.0, "exact"), (6, 4.0, "rejection"), (6, 4.0, "inverse_cdf"),
                             (2, 0.5, "rejection")]:
        omw = sample_one_minus_w(torch.tensor(kappa, dtype=torch.float64), d, (10_000,),
                                 method=method, generator=gen)
        w = (1 - omw).numpy()
        assert stats.kstest(w, lambda x, k=kappa, dd=d: marginal.cdf(x, k, dd)).pvalue > 1e-3


def _naive_gradient_by_w_quadrature(kappa: float, d: int) -> float:
    """E_f[dw/dkappa at fixed eps], by scipy quadrature over the target density of w (d > 3).

    eps(w, b) = (1 - w) / ((1 + b) - (1 - b) w) inverts Wood's map; the derivative at fixed eps is
    d w/d kappa = -(d eps/d kappa at fixed w) / (d eps/d w), by central differences.
    """
    m = d - 1

    def b_of(k):
        return (-2 * k + math.sqrt(4 * k * k + m * m)) / m

    def eps_of(w, k):
        b = b_of(k)
        return (1 - w) / ((1 + b) - (1 - b) * w)

    def dw_dkappa(w, h=1e-6):
        de_dk = (eps_of(w, kappa + h) - eps_of(w, kappa - h)) / (2 * h)
        de_dw = (eps_of(w + h, kappa) - eps_of(w - h, kappa)) / (2 * h)
        return -de_dk / de_dw

    def g(w):
        return math.exp(kappa * (w - 1)) * (1 - w * w) ** (0.5 * (d - 3))

    opts = dict(epsabs=0, epsrel=1e-9, limit=200)
    total, _ = integrate.quad(g, -1, 1, **opts)
    num, _ = integrate.quad(lambda w: g(w) * dw_dkappa(w), -1 + 1e-9, 1 - 1e-9, **opts)
    return num / total


def _mp_mean_resultant_length_derivative(kappa: float, d: int) -> float:
    return float(mpmath.diff(lambda k: mpmath.besseli(d / 2, k) / mpmath.besseli(d / 2 - 1, k),
                             kappa))


@pytest.mark.parametrize(("d", "kappa"), [(5, 2.0), (4, 0.5), (10, 30.0)])
def test_naive_gradient_expectation(d, kappa):
    naive = marginal.naive_wood_gradient_mean_w(kappa, d)
    assert naive == pytest.approx(_naive_gradient_by_w_quadrature(kappa, d), rel=1e-6)
    true = _mp_mean_resultant_length_derivative(kappa, d)
    assert float(marginal.mean_resultant_length_derivative(kappa, d)) == pytest.approx(true,
                                                                                       rel=1e-10)
    assert naive < true  # the naive estimator is biased low in these cases


def test_naive_gradient_monte_carlo_matches_its_expectation():
    d, kappa, n = 5, 2.0, 20_000
    k = torch.tensor(kappa, dtype=torch.float64, requires_grad=True)
    draws = marginal.wood_rejection(k, d, n, np.random.default_rng(4))
    (total,) = torch.autograd.grad((1 - draws.one_minus_w).sum(), k)
    # per-sample gradients: the same draws with one kappa entry per sample
    kv = torch.full((n,), kappa, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad((1 - marginal.wood_proposal(draws.eps, kv, d)).sum(), kv)
    assert total.item() == pytest.approx(g.sum().item(), rel=1e-12)
    expected = marginal.naive_wood_gradient_mean_w(kappa, d)
    z = (g.mean().item() - expected) / (g.std().item() / math.sqrt(n))
    assert abs(z) < 4


# --- tangent projection --------------------------------------------------------------------------


def test_tangent_projection_geometry_and_law():
    torch.manual_seed(5)
    d, n = 5, 40_000
    loc = torch.nn.functional.normalize(torch.randn(d, dtype=torch.float64), dim=0)
    w = torch.full((n,), 0.3, dtype=torch.float64)
    sin_w = torch.sqrt(1 - w * w)
    z = marginal.tangent_projection(loc, w, sin_w, torch.randn(n, d, dtype=torch.float64))
    np.testing.assert_allclose(torch.linalg.vector_norm(z, dim=-1), 1, atol=1e-14)
    np.testing.assert_allclose(z @ loc, w, atol=1e-14)
    # E[zz^T] = w^2 mu mu^T + (1 - w^2)/(d - 1) (I - mu mu^T) for a uniform tangent direction
    outer = loc[:, None] * loc[None, :]
    second = 0.09 * outer + 0.91 / (d - 1) * (torch.eye(d, dtype=torch.float64) - outer)
    emp = z.T @ z / n
    assert torch.max(torch.abs(emp - second)).item() < 5 * 0.91 / math.sqrt(n)


def test_tangent_projection_has_the_law_of_sample_vmf():
    """Two-sample KS between the projection construction and hvae's Householder sampler."""
    gen = torch.Generator().manual_seed(7)
    d, kappa, n = 5, 3.0, 20_000
    loc = torch.nn.functional.normalize(torch.randn(d, dtype=torch.float64, generator=gen), dim=0)
    z_h = sample_vmf(loc, torch.tensor(kappa, dtype=torch.float64), (n,), generator=gen)
    omw = sample_one_minus_w(torch.tensor(kappa, dtype=torch.float64), d, (n,), generator=gen)
    z_p = marginal.tangent_projection(loc, 1 - omw, torch.sqrt(omw * (2 - omw)),
                                      torch.randn(n, d, dtype=torch.float64, generator=gen))
    for axis in (loc, torch.nn.functional.normalize(torch.randn(d, dtype=torch.float64,
                                                                generator=gen), dim=0)):
        assert stats.ks_2samp((z_h @ axis).numpy(), (z_p @ axis).numpy()).pvalue > 1e-3


def test_tangent_projection_gives_vmf_moments():
    torch.manual_seed(6)
    d, kappa, n = 4, 3.0, 40_000
    loc = torch.nn.functional.normalize(torch.tensor([1.0, -2.0, 0.5, 1.0],
                                                     dtype=torch.float64), dim=0)
    omw = sample_one_minus_w(torch.tensor(kappa, dtype=torch.float64), d, (n,))
    z = marginal.tangent_projection(loc, 1 - omw, torch.sqrt(omw * (2 - omw)),
                                    torch.randn(n, d, dtype=torch.float64))
    vmf = VonMisesFisher(loc, torch.tensor(kappa, dtype=torch.float64))
    cov = vmf.covariance_matrix
    se = torch.sqrt(torch.diagonal(cov) / n)
    assert torch.all(torch.abs(z.mean(0) - vmf.mean) < 5 * se)


# --- KL limits -----------------------------------------------------------------------------------


def _mp_kl(kappa: float, d: int) -> mpmath.mpf:
    k, v = mpmath.mpf(kappa), mpmath.mpf(d) / 2 - 1
    a = mpmath.besseli(v + 1, k) / mpmath.besseli(v, k)
    log_c = v * mpmath.log(k) - (v + 1) * mpmath.log(2 * mpmath.pi) - mpmath.log(
        mpmath.besseli(v, k))
    log_area = mpmath.log(2) + (v + 1) * mpmath.log(mpmath.pi) - mpmath.loggamma(v + 1)
    return k * a + log_c + log_area


@pytest.mark.parametrize("d", [2, 3, 10, 100])
def test_kl_small_kappa(d):
    for kappa in (1e-2, 1e-1):
        err = abs(float(_mp_kl(kappa, d)) - marginal.kl_uniform_small_kappa(kappa, d))
        assert err < kappa**6  # the next term is O(kappa^6) with a coefficient below 1


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_kl_large_kappa(d):
    errs = [abs(float(_mp_kl(k, d)) - marginal.kl_uniform_large_kappa(k, d)) for k in (1e2, 1e3)]
    assert errs[0] < 10 * d * d / 1e4
    assert errs[1] < 10 * d * d / 1e6
