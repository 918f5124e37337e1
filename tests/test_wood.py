"""Tests of hvae.wood (Wood's envelope: proposal, acceptance probability, the naive gradient)
against Wood's formulas retyped from the paper, scipy quadrature, mpmath and Monte Carlo with
the independent sampling loop of tests/reference.py (fixed seeds, z-scores).
"""

import math

import mpmath
import numpy as np
import pytest
import reference as ref
import torch
from scipy import integrate, stats

from hvae import wood
from hvae.distributions import VonMisesFisher, marginal
from hvae.sampling import proposal_slope, wood_envelope
from hvae.special import iv_ratio_derivative

mpmath.mp.dps = 30


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
    p = float(wood.wood_acceptance_probability(kappa, d))
    assert p == pytest.approx(_wood_acceptance_by_quadrature(kappa, d), rel=1e-8)


def test_acceptance_probability_limits():
    for d in (2, 3, 10, 500):
        assert float(wood.wood_acceptance_probability(1e-9, d)) == pytest.approx(1, abs=1e-9)
        p = wood.wood_acceptance_probability(torch.logspace(-2, 6, 50, dtype=torch.float64),
                                                 d)
        assert torch.all(p <= 1) and torch.all(p > 0.6)
        assert torch.all(p.diff() <= 1e-12)  # decreasing in kappa


@pytest.mark.parametrize(("d", "kappa", "seed"), [(3, 1.0, 0), (5, 8.0, 1), (20, 100.0, 2)])
def test_wood_rejection_counts_and_law(d, kappa, seed):
    n = 20_000
    draws = ref.wood_rejection(torch.tensor(kappa, dtype=torch.float64), d, n,
                                    np.random.default_rng(seed))
    p = _wood_acceptance_by_quadrature(kappa, d)
    counts = draws.proposals.double()
    # geometric: mean 1/p, variance (1-p)/p^2
    z = (counts.mean().item() - 1 / p) / math.sqrt((1 - p) / p**2 / n)
    assert abs(z) < 4
    w = 1 - draws.one_minus_w.detach().numpy()
    assert stats.kstest(w, lambda x: marginal.cdf(x, kappa, d)).pvalue > 1e-3


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
    naive = wood.naive_wood_gradient_mean_w(kappa, d)
    assert naive == pytest.approx(_naive_gradient_by_w_quadrature(kappa, d), rel=1e-6)
    true = _mp_mean_resultant_length_derivative(kappa, d)
    slope = iv_ratio_derivative(d / 2, torch.tensor(kappa, dtype=torch.float64))
    assert float(slope) == pytest.approx(true, rel=1e-10)
    assert naive < true  # the naive estimator is biased low in these cases


def test_naive_gradient_monte_carlo_matches_its_expectation():
    d, kappa, n = 5, 2.0, 20_000
    k = torch.tensor(kappa, dtype=torch.float64, requires_grad=True)
    draws = ref.wood_rejection(k, d, n, np.random.default_rng(4))
    (total,) = torch.autograd.grad((1 - draws.one_minus_w).sum(), k)
    # per-sample gradients: the same draws with one kappa entry per sample
    kv = torch.full((n,), kappa, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad((1 - wood.wood_proposal(draws.eps, kv, d)).sum(), kv)
    assert total.item() == pytest.approx(g.sum().item(), rel=1e-12)
    expected = wood.naive_wood_gradient_mean_w(kappa, d)
    z = (g.mean().item() - expected) / (g.std().item() / math.sqrt(n))
    assert abs(z) < 4


@pytest.mark.parametrize("d", [2, 3, 10, 1000])
def test_envelope_parameters(d):
    """hvae.sampling.wood_envelope: b solves (d-1) b^2 + 4 kappa b = d - 1 (both of its forms
    agree), c = kappa x0 + (d-1) log(1 - x0^2), and the log acceptance peaks at 0 at w = x0."""
    kappa = torch.tensor([1e-3, 1.0, 50.0, 1e5], dtype=torch.float64)
    b, x0, c = wood_envelope(kappa, d)
    m = d - 1
    assert torch.allclose(m * b * b + 4 * kappa * b, torch.full_like(b, m), rtol=1e-13)
    assert torch.allclose(x0, (1 - b) / (1 + b), rtol=0, atol=0)
    assert torch.allclose(c, kappa * x0 + m * torch.log1p(-x0 * x0), rtol=1e-10, atol=1e-12)
    assert torch.allclose(wood.wood_log_accept(1 - x0, kappa, d), torch.zeros_like(kappa),
                          atol=1e-9 * kappa.max().item())
    for factor in (0.5, 1.5):  # 1 - w on either side of 1 - x0
        assert torch.all(wood.wood_log_accept(factor * (1 - x0), kappa, d) < 0)


# ------------------------------------------------------------------ the paper code's gradient


@pytest.mark.parametrize("d", [2, 3, 5, 40])
def test_proposal_slope_is_the_derivative_of_the_proposal_at_fixed_eps(d):
    """The closed form -q(2-q)/sqrt(4 kappa^2 + (d-1)^2) against autograd through Wood's map
    q = 2 b eps / (1 - (1 - b) eps) with eps held fixed."""
    eps = torch.linspace(1e-6, 1 - 1e-6, 301, dtype=torch.float64)
    for kappa in (1e-3, 0.7, 5.0, 300.0, 1e5):
        k = torch.full_like(eps, kappa, requires_grad=True)
        q = wood.wood_proposal(eps, k, d)
        (expected,) = torch.autograd.grad(q.sum(), k)
        got = proposal_slope(q.detach(), k.detach(), d)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=0)


def _proposal_gradient_draws(d, kappa, n, seed):
    """Draws z (n, d) of VonMisesFisher(mu, kappa_gradient="proposal") with one kappa entry per
    draw, mu and a random unit vector a."""
    gen = torch.Generator().manual_seed(seed)
    mu = torch.randn(d, dtype=torch.float64, generator=gen)
    mu = mu / mu.norm()
    a = torch.randn(d, dtype=torch.float64, generator=gen)
    torch.manual_seed(seed)
    k = torch.full((n,), kappa, dtype=torch.float64, requires_grad=True)
    z = VonMisesFisher(mu.expand(n, d), k, kappa_gradient="proposal").rsample()
    return mu, a, k, z


@pytest.mark.parametrize(("d", "kappa"), [(2, 1.5), (3, 3.0), (5, 2.0)])
def test_proposal_gradient_of_draws_is_the_naive_estimator(d, kappa):
    """Sample by sample, the gradient of <a, z> equals autograd through the official code's
    construction z(kappa) = (1 - q)mu + sqrt(q(2 - q)) v, q = Wood's map at the accepted eps
    (recovered from the draw), v fixed; the draws equal the implicit ones; and the mean of
    d w/d kappa is the naive estimator's expectation (quadrature), within 4 SE, and at d = 5
    more than 10 SE below A_d'(kappa) (the bias of chapter 3)."""
    n = 20_000
    mu, a, k, z = _proposal_gradient_draws(d, kappa, n, seed=7 + d)
    torch.manual_seed(7 + d)
    implicit = VonMisesFisher(mu.expand(n, d), k.detach()).rsample()
    assert torch.equal(z.detach(), implicit)
    (g_lin,) = torch.autograd.grad((z @ a).sum(), k, retain_graph=True)
    (g_w,) = torch.autograd.grad((z @ mu).sum(), k)

    zd = z.detach()
    q = 1 - zd @ mu
    b = wood_envelope(k.detach(), d)[0]
    eps = q / (2 * b + (1 - b) * q)  # inverts q = 2 b eps / (1 - (1 - b) eps)
    v = zd - (1 - q).unsqueeze(-1) * mu
    v = v / v.norm(dim=-1, keepdim=True)
    k2 = k.detach().clone().requires_grad_(True)
    q2 = wood.wood_proposal(eps, k2, d)
    z2 = (1 - q2).unsqueeze(-1) * mu + torch.sqrt(q2 * (2 - q2)).unsqueeze(-1) * v
    (expected,) = torch.autograd.grad((z2 @ a).sum(), k2)
    torch.testing.assert_close(g_lin, expected, rtol=1e-7, atol=1e-9)

    naive = wood.naive_wood_gradient_mean_w(kappa, d)
    se = g_w.std().item() / math.sqrt(n)
    assert abs(g_w.mean().item() - naive) / se < 4
    if d == 5:
        true = _mp_mean_resultant_length_derivative(kappa, d)
        assert (g_w.mean().item() - true) / se < -10


def test_proposal_gradient_leaves_the_loc_gradient_and_refuses_the_grid():
    d, n = 4, 64
    torch.manual_seed(3)
    h = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    k = torch.full((n,), 4.0, dtype=torch.float64, requires_grad=True)
    grads = []
    for how in ("implicit", "proposal"):
        torch.manual_seed(11)
        z = VonMisesFisher(h / h.norm(dim=-1, keepdim=True), k, kappa_gradient=how).rsample()
        grads.append(torch.autograd.grad(z.sum(), (h, k)))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(grads[0][1], grads[1][1])
    with pytest.raises(ValueError, match="kappa_gradient: must be 'implicit' with method="):
        VonMisesFisher(h.detach()[:1] / h.detach()[:1].norm(), 2.0, method="inverse_cdf",
                       kappa_gradient="proposal")
    with pytest.raises(ValueError, match=r"kappa_gradient: must be one of \('implicit', "):
        VonMisesFisher(h.detach()[:1] / h.detach()[:1].norm(), 2.0, kappa_gradient="paper")
