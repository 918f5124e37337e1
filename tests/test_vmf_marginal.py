"""Tests of hvae.distributions.marginal (the law of w = <mu, z>) against closed forms,
mpmath quadrature and hvae's samplers.

Every reference is computed here independently of the function under test (closed forms for
d = 2 and d = 3, mpmath quadrature of the unnormalised density); Monte Carlo checks use fixed
seeds.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import special, stats

from hvae.distributions import marginal
from hvae.sampling import sample_one_minus_w

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


def test_hvae_samplers_follow_the_marginal():
    gen = torch.Generator().manual_seed(3)
    for d, kappa, method in [(3, 4.0, "exact"), (6, 4.0, "rejection"), (6, 4.0, "inverse_cdf"),
                             (2, 0.5, "rejection")]:
        omw = sample_one_minus_w(torch.tensor(kappa, dtype=torch.float64), d, (10_000,),
                                 method=method, generator=gen)
        w = (1 - omw).numpy()
        assert stats.kstest(w, lambda x, k=kappa, dd=d: marginal.cdf(x, k, dd)).pvalue > 1e-3


@pytest.mark.parametrize(("kappa", "d", "match"), [
    (-1.0, 3, "kappa: must be a finite number >= 0"),
    (math.inf, 3, "kappa: must be a finite number >= 0"),
    (1.0, 1, "d: must be an integer >= 2"),
    (1.0, 2.5, "d: must be an integer >= 2"),
])
def test_bad_arguments(kappa, d, match):
    for fn in (marginal.log_density, marginal.log_density_theta, marginal.cdf, marginal.sf):
        with pytest.raises(ValueError, match=match):
            fn(0.5, kappa, d)
