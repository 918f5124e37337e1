"""Tests for hvae.distributions: VonMisesFisher, HypersphericalUniform and their KL.

Closed forms are compared with mpmath (``tests/reference.py``), the density's normalisation with
scipy quadrature, the moments with mpmath quadrature and Monte Carlo; then a NaN sweep over
extreme (d, kappa) in both dtypes, argument validation, and torch.distributions conventions.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import reference as ref
import torch
from scipy import integrate, stats
from torch.distributions import Distribution, kl_divergence

from hvae.distributions import (
    HypersphericalUniform,
    VonMisesFisher,
    kl_uniform_large_kappa,
    kl_uniform_large_kappa_slope,
    kl_uniform_small_kappa,
    log_sphere_area,
    sphere,
)

F64 = torch.float64
DTYPES = (torch.float64, torch.float32)
CF_DIMS = (2, 3, 5, 10, 100, 1000, 10000)
# concentrations exactly representable in float32, so both dtypes share the mpmath references
CF_KAPPAS = tuple(float(np.float32(k)) for k in (1e-6, 1e-3, 0.1, 1, 7.5, 100, 1e3, 1e5, 1e8))


def e1(d: int, dtype=F64) -> torch.Tensor:
    """The first standard basis vector of R^d."""
    v = torch.zeros(d, dtype=dtype)
    v[0] = 1
    return v


def random_unit(d: int, seed: int, dtype=F64) -> torch.Tensor:
    """A seeded uniformly random unit vector of R^d."""
    g = torch.randn(d, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return (g / g.norm()).to(dtype)


def assert_close(got: float, expected, rel: float, abs_: float = 0.0, what: str = "") -> None:
    """|got - expected| <= rel * |expected| + abs_ (expected may be an mpmath number)."""
    err = abs(mp.mpf(got) - mp.mpf(expected))
    bound = rel * abs(mp.mpf(expected)) + abs_
    assert err <= bound, f"{what}: got {got!r}, expected {mp.nstr(expected, 17)}, err {err}"


# Tolerances. float64: relative 1e-10 (absolute below 1 for log-scale quantities). Entropy,
# KL and log_prob are formed as kappa * A - L (or kappa * (cos - 1) + kappa - L) with both terms
# ~kappa for large kappa: an absolute error of order eps * kappa is inherent to that in float64
# (2e-8 at kappa = 1e8), hence the extra 1e-15 * kappa. float32 results are float64 values cast
# (relative 6e-8), so 1e-5 relative leaves a wide margin.
REL = {torch.float64: 1e-10, torch.float32: 1e-5}


def cancellation_floor(kappa: float, dtype: torch.dtype) -> float:
    """The absolute error allowed for quantities formed as a difference of O(kappa) terms."""
    return 1e-15 * kappa if dtype == torch.float64 else 1e-7 * kappa


# ----------------------------------------------------------------------------------------------
# torch.distributions conventions
# ----------------------------------------------------------------------------------------------


def test_vmf_conventions() -> None:
    """batch_shape / event_shape from broadcasting, has_rsample, support, arg_constraints,
    the Distribution base class, mode, dim, sample shapes and dtypes."""
    loc = torch.nn.functional.normalize(torch.randn(4, 1, 5, dtype=F64), dim=-1)
    kappa = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    p = VonMisesFisher(loc, kappa)
    assert isinstance(p, Distribution)
    assert p.batch_shape == (4, 3) and p.event_shape == (5,) and p.dim == 5
    assert p.has_rsample and p.support is sphere
    assert set(p.arg_constraints) == {"loc", "concentration"}
    assert p.loc.shape == (4, 3, 5) and p.concentration.shape == (4, 3)
    assert torch.equal(p.mode, p.loc)
    assert p.sample((2,)).shape == (2, 4, 3, 5)
    assert p.log_prob(p.sample()).shape == (4, 3)
    for t in (p.entropy(), p.log_normalizer(), p.mean_resultant_length):
        assert t.shape == (4, 3) and t.dtype == F64
    assert p.mean.shape == (4, 3, 5) and p.variance.shape == (4, 3, 5)
    assert p.covariance_matrix.shape == (4, 3, 5, 5)
    q = VonMisesFisher(e1(3, torch.float32), 2.0)  # a Python float concentration
    assert q.concentration.dtype == torch.float32 and q.sample().dtype == torch.float32
    assert sphere.check(p.sample((7,))).all()


def test_uniform_conventions() -> None:
    """HypersphericalUniform: shapes, dtype, rsample, support, entropy."""
    u = HypersphericalUniform(4, batch_shape=(2, 3), dtype=F64)
    assert isinstance(u, Distribution) and u.has_rsample and u.support is sphere
    assert u.batch_shape == (2, 3) and u.event_shape == (4,)
    x = u.rsample((5,))
    assert x.shape == (5, 2, 3, 4) and x.dtype == F64
    assert (x.norm(dim=-1) - 1).abs().max() <= 1e-12
    assert u.log_prob(x).shape == (5, 2, 3)
    assert u.entropy().shape == (2, 3)
    assert HypersphericalUniform(3).sample().dtype == torch.get_default_dtype()


def test_expand() -> None:
    """expand gives the requested batch shape; samples, log_prob, entropy and KL agree with
    the unexpanded distribution broadcast."""
    p = VonMisesFisher(random_unit(4, 0), torch.tensor(3.0, dtype=F64))
    big = p.expand((2, 3))
    assert big.batch_shape == (2, 3) and big.event_shape == (4,)
    assert big.sample((5,)).shape == (5, 2, 3, 4)
    x = p.sample((2, 3))
    torch.testing.assert_close(big.log_prob(x), p.log_prob(x), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(big.entropy(), p.entropy().expand(2, 3), rtol=1e-14, atol=1e-14)
    u = HypersphericalUniform(4, dtype=F64)
    torch.testing.assert_close(kl_divergence(big, u.expand((2, 3))),
                               kl_divergence(p, u).expand(2, 3), rtol=1e-14, atol=1e-14)
    assert u.expand((2, 3)).batch_shape == (2, 3)
    assert big.method == p.method


# ----------------------------------------------------------------------------------------------
# Closed forms against mpmath
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("d", CF_DIMS)
def test_closed_forms_vs_mpmath(d: int, dtype: torch.dtype) -> None:
    """log C_d, A_d, entropy and KL to the uniform law against mpmath for kappa from 1e-6 to
    1e8:

    - log C_d = (d/2-1) log k - (d/2) log 2 pi - log I_{d/2-1}(k),
    - A_d = I_{d/2}/I_{d/2-1}, also the mean's length,
    - H = -log C_d - k A_d,
    - KL = k A_d + log C_d + log|S^{d-1}|, *relative* accuracy even at kappa = 1e-6 (KL ~ 1e-13).
    """
    kappa = torch.tensor(CF_KAPPAS, dtype=dtype)
    p = VonMisesFisher(e1(d, dtype).expand(len(CF_KAPPAS), d), kappa)
    kl = kl_divergence(p, HypersphericalUniform(d, dtype=dtype))
    got = {
        "log_normalizer": p.log_normalizer(),
        "A": p.mean_resultant_length,
        "mean[0]": p.mean[:, 0],
        "entropy": p.entropy(),
        "kl": kl,
    }
    for name, t in got.items():
        assert t.dtype == dtype, name
    rel = REL[dtype]
    for i, k in enumerate(CF_KAPPAS):
        log_c = ref.vmf_log_normalizer(d, k)
        big_a = ref.mean_resultant_length(d, k)
        floor = cancellation_floor(k, dtype)
        case = f"d={d}, kappa={k}"
        assert_close(got["log_normalizer"][i].item(), log_c, rel, rel, f"log C, {case}")
        assert_close(got["A"][i].item(), big_a, rel, 0.0, f"A, {case}")
        assert_close(got["mean[0]"][i].item(), big_a, rel, 0.0, f"mean, {case}")
        assert_close(got["entropy"][i].item(), -log_c - k * big_a, rel, rel + floor,
                     f"entropy, {case}")
        assert_close(got["kl"][i].item(), ref.vmf_kl_to_uniform(d, k), rel, floor, f"KL, {case}")


@pytest.mark.parametrize("d", [2, 3, 10, 1000])
@pytest.mark.parametrize("kappa", [0.01, 1.0, 100.0, 1000.0])
def test_reference_kl_routes_agree(kappa: float, d: int) -> None:
    """The reference KL by its definition (term by term) and by kappa A - log 0F1 agree where
    the definition does not cancel catastrophically (kappa >= 0.01): 1e-18 relative."""
    by_series = ref.vmf_kl_to_uniform(d, kappa)
    by_definition = ref.vmf_kl_to_uniform_by_definition(d, kappa)
    assert abs(by_definition / by_series - 1) < 1e-18


@pytest.mark.parametrize("kappa", [1e-4, 0.3, 2.0, 40.0, 700.0, 1e4])
def test_d3_closed_forms(kappa: float) -> None:
    """d = 3 without Bessel functions: C_3 = k / (4 pi sinh k), A_3 = coth k - 1/k,
    H = -log C_3 - k A_3, KL = k A_3 + log C_3 + log(4 pi) (mpmath, elementary functions)."""
    with mp.workdps(ref.DPS):
        k = mp.mpf(kappa)
        log_c = mp.log(k) - mp.log(4 * mp.pi) - mp.log(mp.sinh(k))
        big_a = mp.coth(k) - 1 / k
        entropy = -log_c - k * big_a
        kl = k * big_a + log_c + mp.log(4 * mp.pi)
    p = VonMisesFisher(random_unit(3, 3), torch.tensor(kappa, dtype=F64))
    floor = cancellation_floor(kappa, F64)
    assert_close(p.log_normalizer().item(), log_c, 1e-10, 1e-10, "log C")
    assert_close(p.mean_resultant_length.item(), big_a, 1e-10, 0.0, "A")
    assert_close(p.entropy().item(), entropy, 1e-10, 1e-10 + floor, "entropy")
    kl_got = kl_divergence(p, HypersphericalUniform(3, dtype=F64)).item()
    assert_close(kl_got, kl, 1e-10, floor, "KL")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("d", [2, 3, 10, 1000])
@pytest.mark.parametrize("kappa", [1e-3, 1.0, 50.0, 1e5])
def test_log_prob_vs_mpmath(kappa: float, d: int, dtype: torch.dtype) -> None:
    """log q(z) = log C_d(k) + k <mu, z> at 8 points (random, z = mu, z = -mu), with <mu, z>
    evaluated exactly (mpmath) from the tensors' values."""
    mu = random_unit(d, 11, dtype)
    x = torch.nn.functional.normalize(torch.randn(8, d, dtype=F64), dim=-1).to(dtype)
    x[0], x[1] = mu, -mu
    p = VonMisesFisher(mu, torch.tensor(kappa, dtype=dtype))
    got = p.log_prob(x)
    assert got.shape == (8,) and got.dtype == dtype
    log_c = ref.vmf_log_normalizer(d, kappa if dtype == F64 else float(np.float32(kappa)))
    k = float(p.concentration)
    tol = REL[dtype] + cancellation_floor(k, dtype)
    for i in range(8):
        with mp.workdps(ref.DPS):
            cos = mp.fsum(mp.mpf(a) * mp.mpf(b)
                          for a, b in zip(mu.tolist(), x[i].tolist(), strict=True))
            expected = log_c + k * cos
        assert_close(got[i].item(), expected, REL[dtype], tol, f"point {i}")


def test_uniform_log_prob_and_area() -> None:
    """log|S^1| = log 2 pi, log|S^2| = log 4 pi; log_sphere_area(d) against mpmath up to
    d = 10000 (relative 1e-13); the uniform's log_prob is -log|S^{d-1}| and its entropy
    log|S^{d-1}|."""
    assert log_sphere_area(2) == pytest.approx(math.log(2 * math.pi), rel=1e-15)
    assert log_sphere_area(3) == pytest.approx(math.log(4 * math.pi), rel=1e-15)
    for d in (2, 3, 4, 5, 10, 100, 1000, 10000):
        assert_close(log_sphere_area(d), ref.log_sphere_area(d), 1e-13, 1e-13, f"d={d}")
        u = HypersphericalUniform(d, dtype=F64)
        lp = u.log_prob(u.sample((3,)))
        assert torch.allclose(lp, torch.full((3,), -log_sphere_area(d), dtype=F64),
                              rtol=1e-15, atol=0)
        assert u.entropy().item() == pytest.approx(log_sphere_area(d), rel=1e-15)


@pytest.mark.parametrize("d", [3, 10])
def test_uniform_samples_uniform(d: int) -> None:
    """A coordinate x of a uniform point of S^{d-1} has (1 + x)/2 ~ Beta((d-1)/2, (d-1)/2):
    KS p > 1e-3 (n = 20000, seeded)."""
    torch.manual_seed(100 + d)
    x = HypersphericalUniform(d, dtype=F64).sample((20_000,))
    for j in (0, d - 1):
        p = stats.kstest((1 + x[:, j].numpy()) / 2, stats.beta((d - 1) / 2, (d - 1) / 2).cdf)
        assert p.pvalue > 1e-3, (j, p)


# ----------------------------------------------------------------------------------------------
# The small-kappa limit of the KL and gradients of the scalar quantities
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("d", [2, 3, 10, 1000, 10000])
def test_kl_small_kappa_limit(d: int, dtype: torch.dtype) -> None:
    """KL -> 0 like kappa^2/(2d) as kappa -> 0. The limit is first confirmed with mpmath
    (KL / (kappa^2/(2d)) = 1 + O(kappa^2)), then hvae's KL at kappa = 2^-20 (~1e-6) is below
    1e-10 and matches kappa^2 / (2d) to 1e-8 (float64) / 1e-5 (float32) relative."""
    kappa = 2.0**-20
    with mp.workdps(ref.DPS):
        limit = mp.mpf(kappa) ** 2 / (2 * d)
        assert abs(ref.vmf_kl_to_uniform(d, kappa) / limit - 1) < kappa**2
    p = VonMisesFisher(e1(d, dtype), torch.tensor(kappa, dtype=dtype))
    kl = kl_divergence(p, HypersphericalUniform(d, dtype=dtype)).item()
    assert 0 <= kl < 1e-10
    assert kl == pytest.approx(float(limit), rel=1e-8 if dtype == F64 else 1e-5)


@pytest.mark.parametrize("d", [2, 3, 10, 100])
@pytest.mark.parametrize("kappa", [1e-3, 0.1, 1.0, 10.0, 1e3, 1e4])
def test_kappa_gradients_of_closed_forms(kappa: float, d: int) -> None:
    """Autograd in kappa (float64) against mpmath (A_d' by numerical differentiation):
    d log C/dk = (d/2-1)/k - I'_{d/2-1}/I_{d/2-1} = -A_d, dH/dk = -k A_d', dKL/dk = k A_d'.
    Relative 1e-6 (hvae's A_d' is accurate to ~1e-16 absolute, see test_special, which
    k A_d' ~ (d-1)/(2k) resolves to ~1e-8 at k = 1e4)."""
    k = torch.tensor(kappa, dtype=F64, requires_grad=True)
    p = VonMisesFisher(e1(d), k)
    kl = kl_divergence(p, HypersphericalUniform(d, dtype=F64))
    g_log_c, g_entropy, g_kl = (torch.autograd.grad(t, k, retain_graph=True)[0].item()
                                for t in (p.log_normalizer(), p.entropy(), kl))
    big_a = ref.mean_resultant_length(d, kappa)
    a_prime = ref.mean_resultant_length_derivative(d, kappa)
    assert_close(g_log_c, -big_a, 1e-10, 0.0, "d log C / d kappa")
    assert_close(g_entropy, -kappa * a_prime, 1e-6, 0.0, "dH / d kappa")
    assert_close(g_kl, kappa * a_prime, 1e-6, 0.0, "dKL / d kappa")


@pytest.mark.parametrize("d", [3, 10])
@pytest.mark.parametrize("kappa", [1e6, 1e8])
def test_kl_gradient_large_kappa(kappa: float, d: int) -> None:
    """dKL/dkappa = kappa A_d'(kappa) ~ (d-1)/(2 kappa) for large kappa, within 1% (a loose
    bound: only the size and sign of the gradient are asked for here). The exact A_d' comes from
    mpmath at 30 digits via 1 - A^2 - (d-1)A/kappa (no cancellation problem at that precision)."""
    k = torch.tensor(kappa, dtype=F64, requires_grad=True)
    kl = kl_divergence(VonMisesFisher(e1(d), k), HypersphericalUniform(d, dtype=F64))
    (grad,) = torch.autograd.grad(kl, k)
    with mp.workdps(ref.DPS):
        big_a = ref.mean_resultant_length(d, kappa)
        expected = kappa * (1 - big_a**2 - (d - 1) * big_a / kappa)
    assert_close(grad.item(), expected, 1e-2, 0.0, "dKL / d kappa")


# ----------------------------------------------------------------------------------------------
# Normalisation and moments
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kappa", [0.01, 1.0, 30.0, 1000.0])
def test_density_integrates_to_one_d2(kappa: float) -> None:
    """d = 2: int_0^{2 pi} exp(log_prob(cos t, sin t)) dt = 1 (scipy.integrate.quad around the
    mean direction; 1e-9)."""
    mu = random_unit(2, 5)
    p = VonMisesFisher(mu, torch.tensor(kappa, dtype=F64))
    phi = math.atan2(mu[1].item(), mu[0].item())

    def density(t: float) -> float:
        x = torch.tensor([math.cos(phi + t), math.sin(phi + t)], dtype=F64)
        return math.exp(p.log_prob(x).item())

    width = 1 / math.sqrt(kappa)
    pts = [c * width for c in (-10, -3, 0, 3, 10) if abs(c * width) < math.pi]
    total, _ = integrate.quad(density, -math.pi, math.pi, points=pts, epsabs=0, epsrel=1e-12,
                              limit=200)
    assert total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("kappa", [0.5, 5.0, 50.0])
def test_density_integrates_to_one_d3(kappa: float) -> None:
    """d = 3: the surface integral of exp(log_prob) over S^2, in spherical coordinates about a
    random axis unrelated to mu (scipy.integrate.dblquad), is 1 to 1e-7."""
    mu = random_unit(3, 6)
    p = VonMisesFisher(mu, torch.tensor(kappa, dtype=F64))

    def density(phi: float, theta: float) -> float:
        st = math.sin(theta)
        x = torch.tensor([st * math.cos(phi), st * math.sin(phi), math.cos(theta)], dtype=F64)
        return math.exp(p.log_prob(x).item()) * st

    total, _ = integrate.dblquad(density, 0, math.pi, 0, 2 * math.pi, epsabs=1e-10,
                                 epsrel=1e-10)
    assert total == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("d", [2, 3, 5, 10])
@pytest.mark.parametrize("kappa", [0.5, 5.0, 50.0])
def test_covariance_vs_mpmath_moments(kappa: float, d: int) -> None:
    """Cov[z] from symmetry: z = w mu + sqrt(1-w^2) v with v uniform on the tangent sphere, so
    Cov = (E[w^2] - A^2) mu mu^T + (1 - E[w^2])/(d-1) (I - mu mu^T), with E[w] = A and E[w^2]
    by mpmath quadrature of the marginal density. Entries to 1e-10 (absolute, float64)."""
    mu = random_unit(d, 7)
    p = VonMisesFisher(mu, torch.tensor(kappa, dtype=F64))
    a, w2 = float(ref.w_moment(d, kappa, 1)), float(ref.w_moment(d, kappa, 2))
    assert a == pytest.approx(float(ref.mean_resultant_length(d, kappa)), rel=1e-14)
    outer = torch.outer(mu, mu)
    expected = (w2 - a * a) * outer + (1 - w2) / (d - 1) * (torch.eye(d, dtype=F64) - outer)
    cov = p.covariance_matrix
    assert torch.allclose(cov, expected, rtol=0, atol=1e-10), (cov - expected).abs().max()
    assert torch.allclose(p.variance, expected.diagonal(), rtol=0, atol=1e-10)
    assert torch.allclose(p.mean, a * mu, rtol=1e-12, atol=0)


@pytest.mark.parametrize("d, kappa", [(3, 2.0), (5, 20.0)])
def test_covariance_monte_carlo(d: int, kappa: float) -> None:
    """Monte Carlo: the sample covariance about the exact mean A mu (n = 50000) matches
    covariance_matrix entry by entry within 5 SE (SE of each mean of products)."""
    mu = random_unit(d, 8)
    p = VonMisesFisher(mu, torch.tensor(kappa, dtype=F64))
    torch.manual_seed(9 + d)
    n = 50_000
    centred = p.sample((n,)) - float(ref.mean_resultant_length(d, kappa)) * mu
    products = centred.unsqueeze(-1) * centred.unsqueeze(-2)
    se = products.std(0) / math.sqrt(n)
    zscores = (products.mean(0) - p.covariance_matrix) / se
    assert zscores.abs().max() <= 5, zscores


# ----------------------------------------------------------------------------------------------
# NaN sweep
# ----------------------------------------------------------------------------------------------

SWEEP_DIMS = (2, 3, 10, 100, 1000, 10000)
SWEEP_KAPPAS = (1e-6, 1e-3, 1.0, 1e3, 1e5, 1e8)
QUANTITIES = ("log_prob", "entropy", "kl", "rsample", "mean")


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("kappa", SWEEP_KAPPAS)
@pytest.mark.parametrize("d", SWEEP_DIMS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_nan_sweep(dtype: torch.dtype, d: int, kappa: float, quantity: str) -> None:
    """Finite values and finite gradients (in kappa, and in loc = h/|h| where the quantity
    depends on it) at extreme d and kappa; the KL is >= 0 and the gradient in kappa exists."""
    gen = torch.Generator().manual_seed(d)
    h = torch.randn(d, dtype=dtype, generator=gen).requires_grad_(True)
    k = torch.tensor(kappa, dtype=dtype, requires_grad=True)
    p = VonMisesFisher(h / h.norm(), k)
    torch.manual_seed(d + 1)
    if quantity == "log_prob":
        points = VonMisesFisher(p.loc.detach(), kappa).sample((4,))
        points[0] = p.loc.detach()
        value = p.log_prob(points)
    elif quantity == "entropy":
        value = p.entropy()
    elif quantity == "kl":
        value = kl_divergence(p, HypersphericalUniform(d, dtype=dtype))
        assert (value >= 0).all(), value
    elif quantity == "rsample":
        value = p.rsample((4,))
        assert (value.norm(dim=-1) - 1).abs().max() <= (1e-5 if dtype == torch.float32 else 1e-12)
    else:
        value = p.mean
    assert value.dtype == dtype
    assert torch.isfinite(value).all(), value
    weights = torch.randn(value.shape, dtype=dtype, generator=gen)
    g_k, g_h = torch.autograd.grad((value * weights).sum(), (k, h), allow_unused=True)
    assert g_k is not None and torch.isfinite(g_k), g_k
    if quantity in ("log_prob", "rsample", "mean"):
        assert g_h is not None and torch.isfinite(g_h).all(), g_h


# ----------------------------------------------------------------------------------------------
# Bad arguments
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_loc_unit_norm_tolerance_per_dtype(dtype: torch.dtype) -> None:
    """A vector normalised in its own dtype is accepted (float32 included, d up to 10000); one
    of norm 1.01 is rejected with a ValueError naming loc."""
    for d in (2, 3, 50, 10000):
        loc = torch.nn.functional.normalize(torch.randn(64, d, dtype=dtype), dim=-1)
        VonMisesFisher(loc, torch.ones(64, dtype=dtype), validate_args=True)
        with pytest.raises(ValueError, match="loc"):
            VonMisesFisher(1.01 * loc, torch.ones(64, dtype=dtype), validate_args=True)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_loc_not_finite(bad: float) -> None:
    loc = torch.tensor([bad, 0.0, 1.0], dtype=F64)
    with pytest.raises(ValueError, match="loc"):
        VonMisesFisher(loc, 1.0, validate_args=True)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_bad_concentration(bad: float) -> None:
    with pytest.raises(ValueError, match="concentration"):
        VonMisesFisher(e1(3), torch.tensor([1.0, bad], dtype=F64), validate_args=True)


def test_bad_dimension_and_shapes() -> None:
    """d < 2, a loc without an event dimension, and batch shapes that do not broadcast."""
    with pytest.raises(ValueError, match="loc"):
        VonMisesFisher(torch.ones(4, 1, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="loc"):
        VonMisesFisher(torch.tensor(1.0, dtype=F64), 1.0)
    loc = torch.nn.functional.normalize(torch.randn(3, 4, dtype=F64), dim=-1)
    with pytest.raises(ValueError, match="broadcast"):
        VonMisesFisher(loc, torch.ones(5, dtype=F64))
    for d in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match=r"dim: must be an integer >= 2"):
            HypersphericalUniform(d)
        with pytest.raises(ValueError, match=r"dim: must be an integer >= 2"):
            HypersphericalUniform(d=d)


def test_uniform_dim_and_its_alias_d() -> None:
    """``dim`` is the ambient dimension; ``d=`` is accepted for it and ``.d`` reads it."""
    u = HypersphericalUniform(d=4, dtype=F64)
    assert u.dim == u.d == 4 and u.event_shape == (4,)
    assert HypersphericalUniform(dim=4).dim == 4
    assert u.expand((2,)).dim == 4
    with pytest.raises(ValueError, match="d: must be omitted"):
        HypersphericalUniform(4, d=4)


def test_log_prob_off_sphere() -> None:
    """With validate_args=True a point off the sphere (or non-finite) is rejected."""
    p = VonMisesFisher(e1(3), 2.0, validate_args=True)
    for bad in ([1.1, 0.0, 0.0], [0.0, 0.0, 0.0], [math.nan, 0.0, 1.0]):
        with pytest.raises(ValueError, match="value"):
            p.log_prob(torch.tensor(bad, dtype=F64))
    u = HypersphericalUniform(3, dtype=F64, validate_args=True)
    with pytest.raises(ValueError, match="value"):
        u.log_prob(torch.tensor([1.1, 0.0, 0.0], dtype=F64))


def test_kl_dimension_mismatch() -> None:
    p = VonMisesFisher(e1(3), 2.0)
    with pytest.raises(ValueError, match="q: must be a uniform law of the same dimension"):
        kl_divergence(p, HypersphericalUniform(4, dtype=F64))


def test_bad_method() -> None:
    """An unknown method is rejected at construction; method="exact" with d != 3 is rejected
    (at construction or at the latest when sampling)."""
    with pytest.raises(ValueError, match="method"):
        VonMisesFisher(e1(3), 2.0, method="gibbs")
    with pytest.raises(ValueError, match="exact"):
        VonMisesFisher(e1(5), 2.0, method="exact").rsample()
    VonMisesFisher(e1(3), 2.0, method="exact").rsample()  # fine for d = 3


# ----------------------------------------------------------------------------------------------
# The KL's limits
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 10, 100])
def test_kl_small_kappa(d):
    for kappa in (1e-2, 1e-1):
        err = abs(float(ref.vmf_kl_to_uniform(d, kappa)) - kl_uniform_small_kappa(kappa, d))
        assert err < kappa**6  # the next term is O(kappa^6) with a coefficient below 1


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_kl_large_kappa(d):
    errs = [abs(float(ref.vmf_kl_to_uniform(d, k)) - kl_uniform_large_kappa(k, d))
            for k in (1e2, 1e3)]
    assert errs[0] < 10 * d * d / 1e4
    assert errs[1] < 10 * d * d / 1e6


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_kl_large_kappa_leading_terms(d):
    """order=0: kappa (KL - leading terms) tends to the 1/kappa coefficient (d-1)(d-3)/4, with
    an O(d^4 / kappa) error (mpmath KL)."""
    for kappa in (1e3, 1e4):
        gap = float(ref.vmf_kl_to_uniform(d, kappa)) - kl_uniform_large_kappa(kappa, d, order=0)
        assert abs(kappa * gap - (d - 1) * (d - 3) / 4) < 10 * d**4 / kappa
    with pytest.raises(ValueError, match="order: must be one of"):
        kl_uniform_large_kappa(1e3, 3, order=2)


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_kl_large_kappa_slope(d):
    """d KL / d log kappa = kappa^2 A_d' (mpmath) matches the expansion to O(d^3 / kappa^2)
    (exactly, up to exponentially small terms, for d = 3), and the expansion is the derivative
    of kl_uniform_large_kappa in log kappa (central differences)."""
    for kappa in (1e2, 1e3, 1e4):
        exact = float(kappa * kappa * ref.mean_resultant_length_derivative(d, kappa))
        err = abs(exact - kl_uniform_large_kappa_slope(kappa, d))
        assert err <= (1e-12 if d == 3 else 0.1 * d**3 / kappa**2), (kappa, err)
        h = 1e-4
        numeric = (kl_uniform_large_kappa(kappa * math.exp(h), d)
                   - kl_uniform_large_kappa(kappa * math.exp(-h), d)) / (2 * h)
        assert numeric == pytest.approx(kl_uniform_large_kappa_slope(kappa, d), rel=1e-7)
    kappas = np.array([1e2, 1e3])
    assert kl_uniform_large_kappa_slope(kappas, d).shape == (2,)


# dKL/dkappa = kappa A_d'(kappa), given to autograd directly: before, autograd formed
# A + kappa A' - A and lost kappa A' ~ (d-1)/(2 kappa) to rounding (float32: 1.6e-3 relative
# at kappa = 1e5, exactly 0 from 1e8; float64: 5e-3 at 1e12)
KL_GRAD_KAPPAS = (1e-3, 1.0, 1e3, 1e5, 1e8)


def _kl_grad(d: int, kappa: float, dtype: torch.dtype) -> float:
    k = torch.tensor([kappa], dtype=dtype, requires_grad=True)
    mu = torch.nn.functional.normalize(torch.ones(1, d, dtype=dtype), dim=-1)
    kl_divergence(VonMisesFisher(mu, k), HypersphericalUniform(d, dtype=dtype)).sum().backward()
    return float(k.grad)


@pytest.mark.parametrize("d", [2, 3, 5, 100, 1000])
def test_kl_gradient_float32_matches_float64(d):
    for kappa in KL_GRAD_KAPPAS:
        g32, g64 = _kl_grad(d, kappa, torch.float32), _kl_grad(d, kappa, torch.float64)
        assert g32 == pytest.approx(g64, rel=1e-5), kappa


@pytest.mark.parametrize("d", [2, 3, 5, 100, 1000])
def test_kl_gradient_against_mpmath(d):
    """kappa A_d'(kappa) by mpmath's differentiation of I_{d/2}/I_{d/2-1} (40 digits); to 1e-9
    up to kappa = 1e5 and 1e-5 at 1e8, where A_d' ~ (d-1)/(2 kappa^2) itself carries the
    rounding of 1 - A_d (hvae.special.iv_ratio_derivative: relative error ~ eps kappa)."""
    with mp.workdps(40):
        v = mp.mpf(d) / 2
        for kappa in KL_GRAD_KAPPAS:
            x = mp.mpf(kappa)
            want = float(x * mp.diff(lambda t: mp.besseli(v, t) / mp.besseli(v - 1, t), x))
            tol = 1e-9 if kappa <= 1e5 else 1e-5
            assert _kl_grad(d, kappa, torch.float64) == pytest.approx(want, rel=tol), kappa


def test_kl_gradient_is_first_order_only():
    """The explicit gradient has no derivative of its own: a second backward says so instead of
    returning a silently wrong 0."""
    k = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    mu = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    kl = kl_divergence(VonMisesFisher(mu, k), HypersphericalUniform(3, dtype=torch.float64))
    (g,) = torch.autograd.grad(kl.sum(), k, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()
