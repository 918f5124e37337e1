"""Tests for the von Mises-Fisher sampler (hvae.sampling, VonMisesFisher.rsample).

Goodness of fit: the marginal w = <mu, z> by a KS test against its exact CDF (quadrature in the
angle, normalised by mpmath; ``tests/reference.py``), its mean against A_d(kappa) from mpmath,
and the tangent direction against the uniform law on S^{d-2}. Gradients: Monte Carlo estimates
of d/dkappa E[f(z)] and d/dmu E[f(z)] against closed forms with mpmath, and the implicit
reparameterisation gradient sample by sample against an exact formula (d = 3) or mpmath
quadrature (other d).

Every random test seeds torch from its own parameters (``seed_for``), so the suite is
deterministic; thresholds are stated where they are used.
"""

from __future__ import annotations

import math
import warnings
import zlib
from functools import cache

import mpmath as mp
import numpy as np
import pytest
import reference as ref
import torch
from scipy import stats

from hvae.distributions import VonMisesFisher
from hvae.sampling import (
    GridResolutionWarning,
    attach_implicit_gradient,
    inverse_cdf_max_kappa,
    sample_one_minus_w,
    sample_vmf,
    tangent_projection,
)

F64 = torch.float64

# KS / binomial p-value threshold for the 36-case grid: each test is deterministic given its
# seed; 1e-4 keeps the family-wise false-alarm rate of the 72 grid tests below 1% for a correct
# sampler while still detecting a CDF error of ~0.016 at n = 20000 (~0.025 at n = 8000).
P_GRID = 1e-4
# the same for the few single tests outside the grid
P_SINGLE = 1e-3


def n_draws(d: int) -> int:
    """Sample size of the goodness-of-fit tests: 20000, or 8000 for d > 100 (runtime)."""
    return 20_000 if d <= 100 else 8_000


def seed_for(*parts) -> int:
    """A deterministic seed from the test's parameters (crc32 of their repr; Python's hash()
    of strings is randomised per process)."""
    return zlib.crc32(repr(parts).encode())


def random_unit(d: int, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random unit vector of R^d (float64)."""
    g = torch.randn(d, dtype=F64, generator=generator)
    return g / g.norm()


def one_minus_w(z: torch.Tensor, mu: torch.Tensor) -> np.ndarray:
    """1 - <mu, z> = |z - mu|^2 / 2 for unit z, mu: no cancellation even when z ~ mu."""
    return (0.5 * ((z - mu) ** 2).sum(-1)).numpy()


def ks_angle_pvalue(omw: np.ndarray, d: int, kappa: float) -> float:
    """KS p-value of the angles theta = arccos(w) against the exact vMF angle law.

    The CDF at the sorted sample comes from :func:`reference.w_cdf_at_sorted` (quadrature,
    normalised by mpmath's I_nu, independent of hvae); the KS statistic is computed directly
    and its p-value from scipy.stats.kstwo (exact finite-n distribution).
    """
    theta = np.sort(2 * np.arcsin(np.sqrt(np.clip(omw / 2, 0, 1))))
    cdf, closure = ref.w_cdf_at_sorted(theta, d, kappa)
    assert closure < 1e-9, f"reference quadrature does not close: {closure}"
    n = theta.size
    i = np.arange(1, n + 1)
    statistic = max((i / n - cdf).max(), (cdf - (i - 1) / n).max())
    return float(stats.kstwo.sf(statistic, n))


@cache
def vmf_draws(d: int, kappa: float, method: str = "auto") -> dict:
    """n_draws(d) draws of VonMisesFisher(mu, kappa) (float64, random seeded mu), reduced to O(n)
    summaries (so that the cache stays small even for d = 1000):

    - ``omw``: 1 - <mu, z>;
    - ``tangent``: <e, v> with v = (z - w mu)/|z - w mu| the tangent direction and e a fixed
      unit vector orthogonal to mu;
    - ``norm_error``: max |(|z| - 1)|.
    """
    gen = torch.Generator().manual_seed(seed_for("mu", d, kappa, method))
    mu = random_unit(d, gen)
    e = torch.randn(d, dtype=F64, generator=gen)
    e = e - (e @ mu) * mu
    e = e / e.norm()
    n = n_draws(d)
    torch.manual_seed(seed_for("draws", d, kappa, method, n))
    z = VonMisesFisher(mu, torch.tensor(kappa, dtype=F64), method=method).sample((n,))
    assert z.shape == (n, d) and z.dtype == F64
    w = z @ mu
    v = z - w.unsqueeze(-1) * mu
    v = v / v.norm(dim=-1, keepdim=True)
    return {
        "omw": one_minus_w(z, mu),
        "tangent": (v @ e).numpy(),
        "norm_error": float((z.norm(dim=-1) - 1).abs().max()),
    }


DIMS = (2, 3, 4, 10, 100, 1000)
KAPPAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 1e5)


# ----------------------------------------------------------------------------------------------
# The KS machinery can fail
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d, kappa, wrong_d, wrong_kappa", [(10, 10.0, 10, 11.0),
                                                            (10, 10.0, 11, 10.0),
                                                            (2, 1000.0, 2, 1100.0),
                                                            (1000, 100.0, 1000, 110.0)])
def test_ks_detects_a_wrong_law(d: int, kappa: float, wrong_d: int, wrong_kappa: float) -> None:
    """Power check of the KS test used below: draws of (d, kappa) tested against the law of
    a slightly different (d, kappa) (10% off in kappa, or d + 1) are rejected (p < 1e-6)."""
    omw = vmf_draws(d, kappa)["omw"]
    assert ks_angle_pvalue(omw, wrong_d, wrong_kappa) < 1e-6


# ----------------------------------------------------------------------------------------------
# Goodness of fit over the (d, kappa) grid, default method
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("d", DIMS)
def test_marginal_ks(d: int, kappa: float) -> None:
    """w = <mu, z> follows f(w) ~ exp(kappa w)(1 - w^2)^((d-3)/2): KS p > 1e-4."""
    p = ks_angle_pvalue(vmf_draws(d, kappa)["omw"], d, kappa)
    assert p > P_GRID, p


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("d", DIMS)
def test_marginal_mean(d: int, kappa: float) -> None:
    """E[1 - w] = 1 - A_d(kappa) (mpmath): the sample mean within 5 standard errors."""
    omw = vmf_draws(d, kappa)["omw"]
    expected = float(1 - ref.mean_resultant_length(d, kappa))
    se = omw.std(ddof=1) / math.sqrt(omw.size)
    assert abs(omw.mean() - expected) <= 5 * se, (omw.mean(), expected, se)


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("d", DIMS)
def test_tangent_uniform(d: int, kappa: float) -> None:
    """The tangent direction v is uniform on S^{d-2}: its coordinate along a fixed e (unit,
    orthogonal to mu) has (1 + <e, v>)/2 ~ Beta((d-2)/2, (d-2)/2) for d >= 3 (KS p > 1e-4);
    for d = 2, <e, v> = +-1 with equal probability (two-sided binomial p > 1e-4)."""
    t = vmf_draws(d, kappa)["tangent"]
    if d == 2:
        assert np.allclose(np.abs(t), 1.0, atol=1e-12)
        p = stats.binomtest(int((t > 0).sum()), t.size).pvalue
    else:
        p = stats.kstest((1 + t) / 2, stats.beta((d - 2) / 2, (d - 2) / 2).cdf).pvalue
    assert p > P_GRID, p


@pytest.mark.parametrize("d", DIMS)
def test_unit_norm_float64(d: int) -> None:
    """Every float64 sample has unit norm to 1e-12 (all kappas of the grid)."""
    for kappa in KAPPAS:
        assert vmf_draws(d, kappa)["norm_error"] <= 1e-12, kappa


@pytest.mark.parametrize("d", [2, 3, 10, 1000])
def test_unit_norm_float32(d: int) -> None:
    """float32 samples have unit norm to 1e-5 (~100 ulp) and are float32."""
    torch.manual_seed(seed_for("f32", d))
    loc = torch.nn.functional.normalize(torch.randn(d), dim=0)
    for kappa in (1e-3, 1.0, 1e3, 1e6):
        z = VonMisesFisher(loc, kappa).sample((500,))
        assert z.dtype == torch.float32
        assert (z.norm(dim=-1) - 1).abs().max() <= 1e-5, kappa


# ----------------------------------------------------------------------------------------------
# Other methods
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kappa", [0.5, 5.0, 50.0, 5000.0])
@pytest.mark.parametrize("method", ["exact", "rejection"])
def test_d3_methods_ks(method: str, kappa: float) -> None:
    """At d = 3 both the exact inverse CDF and Wood's rejection sampler pass KS (p > 1e-3)
    and the mean test (5 SE)."""
    draws = vmf_draws(3, kappa, method)
    assert ks_angle_pvalue(draws["omw"], 3, kappa) > P_SINGLE
    omw = draws["omw"]
    expected = float(1 - ref.mean_resultant_length(3, kappa))
    assert abs(omw.mean() - expected) <= 5 * omw.std(ddof=1) / math.sqrt(omw.size)


@pytest.mark.parametrize("kappa", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("d", [3, 10])
def test_inverse_cdf_ks(d: int, kappa: float) -> None:
    """The grid inverse CDF (4096 cells) at kappa <= 10: KS p > 1e-3 (its limit: see below)."""
    draws = vmf_draws(d, kappa, "inverse_cdf")
    assert ks_angle_pvalue(draws["omw"], d, kappa) > P_SINGLE
    t = draws["tangent"]
    assert stats.kstest((1 + t) / 2, stats.beta((d - 2) / 2, (d - 2) / 2).cdf).pvalue > P_SINGLE


def grid_draws(kappa, d: int, n: int = 10) -> tuple[np.ndarray, list]:
    """inverse_cdf draws of 1 - w (seeded) and the GridResolutionWarnings of that one call."""
    with warnings.catch_warnings(record=True, action="always") as caught:
        omw = sample_one_minus_w(torch.tensor(kappa, dtype=F64), d, (n,), method="inverse_cdf",
                                 generator=torch.Generator().manual_seed(seed_for("grid", d, n)))
    return omw.numpy(), [w for w in caught if issubclass(w.category, GridResolutionWarning)]


@pytest.mark.parametrize("d", [3, 4, 5, 10, 64])
def test_inverse_cdf_limit(d: int) -> None:
    """inverse_cdf_max_kappa: no warning below it, one per call (naming the limit) past it, at
    any kappa for d = 2; at it the mean of 1 - w is 1 - A_d (mpmath) within 5 SE (100,000 draws),
    a test that fails at 16 x the limit for d <= 10 (the density about a cell wide)."""
    limit, n = inverse_cdf_max_kappa(d), 100_000
    assert grid_draws([0.1, 0.9 * limit], d)[1] == [] and len(grid_draws([1e-3], 2)[1]) == 1
    caught = grid_draws([0.5 * limit, 1.1 * limit, 3 * limit], d)[1]
    assert len(caught) == 1 and f"{limit:.4g}" in str(caught[0].message), caught
    for factor in (1, 16) if d <= 10 else (1,):
        omw = grid_draws(factor * limit, d, n)[0]
        expected = float(1 - ref.mean_resultant_length(d, factor * limit))
        z = (omw.mean() - expected) / (omw.std(ddof=1) / math.sqrt(n))
        assert (abs(z) <= 5) == (factor == 1), (factor, z)


def _axis(d: int, i: int, sign: float = 1.0, tilt: float = 0.0) -> torch.Tensor:
    """sign * e_i, optionally tilted by ``tilt`` towards the next axis (then renormalised)."""
    v = torch.zeros(d, dtype=F64)
    v[i] = sign
    v[(i + 1) % d] += tilt
    return v / v.norm()


@pytest.mark.parametrize("d", [2, 3, 10])
@pytest.mark.parametrize(
    "where", ["+e1", "-e1", "e2", "+e1 tilted 1e-12", "-e1 tilted 1e-12", "-e1 tilted 1e-6"]
)
def test_householder_special_directions(d: int, where: str) -> None:
    """mu at or next to +-e1 (where the reflection switches sign) and at e2: the sample mean
    is A_d(kappa) mu within 5 SE in every coordinate, w passes KS (p > 1e-3), and samples
    are unit vectors."""
    sign = -1.0 if where.startswith("-") else 1.0
    tilt = float(where.split()[-1]) if "tilted" in where else 0.0
    mu = _axis(d, 1 if where == "e2" else 0, sign, tilt)
    kappa, n = 5.0, 20_000
    torch.manual_seed(seed_for("householder", d, where))
    z = VonMisesFisher(mu, torch.tensor(kappa, dtype=F64)).sample((n,))
    assert (z.norm(dim=-1) - 1).abs().max() <= 1e-12
    a = float(ref.mean_resultant_length(d, kappa))
    zscores = (z.mean(0) - a * mu) / (z.std(0) / math.sqrt(n))
    assert zscores.abs().max() <= 5, zscores
    assert ks_angle_pvalue(one_minus_w(z, mu), d, kappa) > P_SINGLE


# ----------------------------------------------------------------------------------------------
# Shapes, reproducibility, memory
# ----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::hvae.sampling.GridResolutionWarning")
@pytest.mark.parametrize("method", ["auto", "rejection", "inverse_cdf"])
@pytest.mark.parametrize("d", [2, 3, 7])
def test_shapes(d: int, method: str) -> None:
    """sample/rsample shapes are sample_shape + batch_shape + (d,) for broadcast batches;
    sample_one_minus_w returns sample_shape + kappa.shape."""
    loc = torch.nn.functional.normalize(torch.randn(3, 1, d, dtype=F64), dim=-1)
    kappa = torch.tensor([1.0, 10.0, 100.0, 1000.0], dtype=F64)
    dist = VonMisesFisher(loc, kappa, method=method)
    assert dist.batch_shape == (3, 4) and dist.event_shape == (d,)
    assert dist.sample().shape == (3, 4, d)
    assert dist.rsample((5,)).shape == (5, 3, 4, d)
    assert dist.sample((2, 5)).shape == (2, 5, 3, 4, d)
    omw = sample_one_minus_w(kappa, d, torch.Size([2, 5]), method=method)
    assert omw.shape == (2, 5, 4) and omw.dtype == F64
    assert ((omw >= 0) & (omw <= 2)).all()


def test_reproducible_with_manual_seed() -> None:
    """Same torch.manual_seed, same draws (bit for bit); another seed, other draws."""
    for d, method in [(3, "auto"), (5, "auto"), (5, "inverse_cdf")]:
        dist = VonMisesFisher(_axis(d, 0), torch.tensor(4.0, dtype=F64), method=method)
        torch.manual_seed(1234)
        a = dist.sample((50,))
        torch.manual_seed(1234)
        b = dist.sample((50,))
        torch.manual_seed(1235)
        c = dist.sample((50,))
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


@pytest.mark.parametrize("method", ["auto", "rejection", "exact", "inverse_cdf"])
def test_generator_reproducible(method: str) -> None:
    """sample_one_minus_w with equal generator seeds gives equal draws."""
    kappa = torch.tensor([0.5, 50.0], dtype=F64)
    a = sample_one_minus_w(kappa, 3, (100,), method=method,
                           generator=torch.Generator().manual_seed(7))
    b = sample_one_minus_w(kappa, 3, (100,), method=method,
                           generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_large_dimension_linear_memory() -> None:
    """d = 10000: samples are unit vectors with the right mean resultant length, and the
    sampler allocates O(n d) memory, not O(d^2): the total allocated by torch operators (torch
    profiler) plus, in a second run, the peak of Python/numpy allocations (tracemalloc, which
    would otherwise count the profiler's own) stays below d^2 * 8 bytes / 10 = 80 MB, while one
    d x d float64 matrix alone would need 800 MB. rsample and its backward pass are measured."""
    import tracemalloc

    from torch.profiler import ProfilerActivity, profile

    d, n, kappa = 10_000, 16, 5000.0
    torch.manual_seed(seed_for("large", d))
    mu = torch.nn.functional.normalize(torch.randn(d, dtype=F64), dim=0)
    k = torch.tensor(kappa, dtype=F64, requires_grad=True)

    def draw_and_backward() -> torch.Tensor:
        z = VonMisesFisher(mu, k).rsample((n,))
        z.sum().backward()
        return z.detach()

    draw_and_backward()  # warm-up: one-off caches and imports are not the sampler's memory
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        draw_and_backward()
    torch_total = sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages())
    tracemalloc.start()
    try:
        z = draw_and_backward()
        numpy_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert torch_total + numpy_peak < d * d * 8 / 10, (torch_total, numpy_peak)
    assert z.shape == (n, d)
    assert (z.norm(dim=-1) - 1).abs().max() <= 1e-12
    # 1 - A_d(kappa) ~ 0.5 here; per-sample std of w is ~0.005: 16 draws, 5 SE
    omw = one_minus_w(z, mu)
    expected = float(1 - ref.mean_resultant_length(d, kappa))
    assert abs(omw.mean() - expected) <= 5 * omw.std(ddof=1) / math.sqrt(n)


# ----------------------------------------------------------------------------------------------
# Gradients through rsample: Monte Carlo against closed forms
# ----------------------------------------------------------------------------------------------

# d = 3 uses the exact inverse CDF by default; its rejection sampler's gradient is checked
# sample by sample against the exact formula further down, and once here in expectation.
GRAD_CASES = [(d, kappa, "auto") for d in (2, 3, 5, 10, 50) for kappa in (0.5, 2.0, 20.0, 200.0)]
GRAD_CASES += [(3, 2.0, "rejection")]
N_GRAD = 20_000


def z_score(per_sample: torch.Tensor, expected: float) -> float:
    """(mean - expected) / (std / sqrt(n)) for per-sample estimates."""
    n = per_sample.numel()
    return (per_sample.mean().item() - expected) / (per_sample.std().item() / math.sqrt(n))


@pytest.mark.parametrize("d, kappa, method", GRAD_CASES)
def test_kappa_gradient(d: int, kappa: float, method: str) -> None:
    """Per-sample pathwise gradients in kappa (kappa of shape (n,), loc expanded to (n, d)):

    - f(z) = <a, z>: E f = A_d(kappa) <a, mu>, so d/dkappa E f = A_d'(kappa) <a, mu>;
    - f(z) = <mu, z>^2: E f = 1 - (d-1) A_d(kappa)/kappa, so
      d/dkappa E f = -(d-1) (A_d'/kappa - A_d/kappa^2);

    A_d and A_d' from mpmath (A_d' by numerical differentiation). Both means within 4 SE.
    """
    gen = torch.Generator().manual_seed(seed_for("grad-mu", d, kappa, method))
    mu, a = random_unit(d, gen), torch.randn(d, dtype=F64, generator=gen)
    torch.manual_seed(seed_for("grad", d, kappa, method))
    k = torch.full((N_GRAD,), kappa, dtype=F64, requires_grad=True)
    z = VonMisesFisher(mu.expand(N_GRAD, d), k, method=method).rsample()
    (g_lin,) = torch.autograd.grad((z @ a).sum(), k, retain_graph=True)
    (g_sq,) = torch.autograd.grad(((z @ mu) ** 2).sum(), k)
    big_a = ref.mean_resultant_length(d, kappa)
    a_prime = ref.mean_resultant_length_derivative(d, kappa)
    expected_lin = float(a_prime * float(a @ mu))
    expected_sq = float(-(d - 1) * (a_prime / kappa - big_a / kappa**2))
    assert abs(z_score(g_lin, expected_lin)) <= 4
    assert abs(z_score(g_sq, expected_sq)) <= 4


@pytest.mark.parametrize("d, kappa", [(5, 2.0), (10, 20.0), (3, 5.0), (2, 3.0)])
def test_loc_gradient(d: int, kappa: float) -> None:
    """With loc = h/|h|: grad_h E<a, z> = A_d(kappa) (I - mu mu^T) a / |h| (A_d from mpmath);
    per-sample gradients (h of shape (n, d)) agree within 4 SE in every coordinate."""
    n = N_GRAD
    gen = torch.Generator().manual_seed(seed_for("loc-grad", d, kappa))
    h0 = 1.7 * random_unit(d, gen)
    a = torch.randn(d, dtype=F64, generator=gen)
    mu = h0 / h0.norm()
    h = h0.repeat(n, 1).requires_grad_(True)
    torch.manual_seed(seed_for("loc-grad-draws", d, kappa))
    z = VonMisesFisher(h / h.norm(dim=-1, keepdim=True), torch.tensor(kappa, dtype=F64)).rsample()
    (g,) = torch.autograd.grad((z @ a).sum(), h)
    big_a = float(ref.mean_resultant_length(d, kappa))
    expected = big_a * (a - (a @ mu) * mu) / h0.norm()
    zscores = (g.mean(0) - expected) / (g.std(0) / math.sqrt(n))
    assert zscores.abs().max() <= 4, zscores


# ----------------------------------------------------------------------------------------------
# The implicit reparameterisation gradient, sample by sample
# ----------------------------------------------------------------------------------------------


def dw_dkappa_d3(omw: float, kappa: float) -> mp.mpf:
    r"""Exact dw/dkappa at fixed CDF value for d = 3, from
    F(w) = (e^{kappa w} - e^{-kappa}) / (e^{kappa} - e^{-kappa}):
    dw/dkappa = -dF/dkappa / f = -[w + E - (1 - E) coth(kappa)] / kappa, E = e^{-kappa(1+w)}.
    Evaluated in mpmath with w = 1 - omw exactly."""
    with mp.workdps(ref.DPS):
        k = mp.mpf(kappa)
        w = 1 - mp.mpf(omw)
        e = mp.exp(-k * (1 + w))
        return -(w + e - (1 - e) * mp.coth(k)) / k


def dw_dkappa_quad(omw: float, kappa: float, d: int) -> mp.mpf:
    r"""dw/dkappa at fixed CDF value for any d, by mpmath quadrature:
    dw/dkappa = (1/g(w)) int_w^1 (t - A_d) g(t) dt, g(t) = e^{kappa t} (1 - t^2)^{(d-3)/2}
    (differentiate F(w; kappa) = u, using d/dkappa log f = t - A_d), written with
    s = 1 - t (so the endpoint t = 1 is s = 0, representable exactly)."""
    with mp.workdps(ref.DPS):
        k, o = mp.mpf(kappa), mp.mpf(omw)
        big_a = ref.mean_resultant_length(d, kappa)
        e = (mp.mpf(d) - 3) / 2

        def integrand(s):
            return (1 - s - big_a) * mp.exp(-k * (s - o)) * (s * (2 - s) / (o * (2 - o))) ** e

        cuts = [0, o] if k * o < 20 else [0, o - 20 / k, o - 5 / k, o - 1 / k, o]
        return mp.quad(integrand, cuts)


@pytest.mark.parametrize("kappa", [1e-3, 0.3, 1.0, 10.0, 100.0, 1e4, 1e6])
@pytest.mark.parametrize("method", ["rejection", "exact"])
def test_d3_gradient_sample_by_sample(method: str, kappa: float) -> None:
    """d(1 - w)/dkappa of each of 300 draws at d = 3 equals the exact -dw/dkappa of the d = 3
    CDF to 1e-8 relative: for "rejection" this checks the implicit-gradient quadrature, for
    "exact" the autograd of the inverse CDF."""
    k = torch.full((300,), kappa, dtype=F64, requires_grad=True)
    omw = sample_one_minus_w(k, 3, method=method,
                             generator=torch.Generator().manual_seed(seed_for(method, kappa)))
    (grad,) = torch.autograd.grad(omw.sum(), k)
    errors = [
        (float(abs(g + dw_dkappa_d3(o, kappa)) / abs(dw_dkappa_d3(o, kappa))), o)
        for g, o in zip(grad.tolist(), omw.tolist(), strict=True)
    ]
    assert max(errors)[0] <= 1e-8, max(errors)


@pytest.mark.parametrize("kappa", [0.3, 5.0, 100.0, 1e4])
@pytest.mark.parametrize("d", [2, 4, 10, 1000])
def test_implicit_gradient_vs_quadrature(d: int, kappa: float) -> None:
    """attach_implicit_gradient at 4 draws of Wood's sampler equals the mpmath quadrature of
    the implicit derivative to 1e-8 relative (any d)."""
    k = torch.full((4,), kappa, dtype=F64, requires_grad=True)
    omw = sample_one_minus_w(k.detach(), d, method="rejection",
                             generator=torch.Generator().manual_seed(seed_for(d, kappa)))
    (grad,) = torch.autograd.grad(attach_implicit_gradient(omw, k, d).sum(), k)
    for g, o in zip(grad.tolist(), omw.tolist(), strict=True):
        expected = -dw_dkappa_quad(o, kappa, d)
        assert float(abs(g - expected) / abs(expected)) <= 1e-8, (o, g, expected)


def test_d3_quadrature_reference_matches_closed_form() -> None:
    """The general-d quadrature reference reproduces the d = 3 closed form (to 1e-20)."""
    for kappa, o in [(0.3, 1.2), (10.0, 0.05), (1e4, 3e-4)]:
        assert abs(dw_dkappa_quad(o, kappa, 3) / dw_dkappa_d3(o, kappa) - 1) < 1e-20


def test_attach_implicit_gradient_passthrough() -> None:
    """Values pass through unchanged; without requires_grad on kappa no graph is attached."""
    omw = torch.tensor([0.1, 0.5], dtype=F64)
    k = torch.tensor([2.0, 2.0], dtype=F64)
    assert attach_implicit_gradient(omw, k, 5) is omw
    out = attach_implicit_gradient(omw, k.clone().requires_grad_(True), 5)
    assert torch.equal(out, omw) and out.requires_grad


# ----------------------------------------------------------------------------------------------
# The tangent projection
# ----------------------------------------------------------------------------------------------


def test_tangent_projection_geometry_and_law():
    torch.manual_seed(5)
    d, n = 5, 40_000
    loc = torch.nn.functional.normalize(torch.randn(d, dtype=torch.float64), dim=0)
    w = torch.full((n,), 0.3, dtype=torch.float64)
    sin_w = torch.sqrt(1 - w * w)
    z = tangent_projection(loc, w, sin_w, torch.randn(n, d, dtype=torch.float64))
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
    z_p = tangent_projection(loc, 1 - omw, torch.sqrt(omw * (2 - omw)),
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
    z = tangent_projection(loc, 1 - omw, torch.sqrt(omw * (2 - omw)),
                           torch.randn(n, d, dtype=torch.float64))
    vmf = VonMisesFisher(loc, torch.tensor(kappa, dtype=torch.float64))
    cov = vmf.covariance_matrix
    se = torch.sqrt(torch.diagonal(cov) / n)
    assert torch.all(torch.abs(z.mean(0) - vmf.mean) < 5 * se)


# ------------------------------------------------------------------------------------------
# Every finite concentration: past 1.3e154, 4 kappa^2 overflows in the closed forms of Wood's b
# and of the mode of the w-density (it raised ZeroDivisionError before)
# ------------------------------------------------------------------------------------------

HUGE_KAPPAS = (1e150, 6.7e153, 1e154, 1e200, 1e300, float(np.finfo(np.float64).max))


@pytest.mark.parametrize("d", [2, 4, 5, 10, 1000])
@pytest.mark.parametrize("kappa", HUGE_KAPPAS)
def test_rsample_at_every_finite_kappa_is_the_mode(d: int, kappa: float) -> None:
    """Draws at the mode to rounding (1 - w ~ (d-1)/(2 kappa) is far below eps), gradients
    finite, on the compiled CPU path and on the torch path (the CUDA one) run on the CPU."""
    from hvae._array_kernels import symmetric_beta, wood_one_minus_w
    from hvae._kernels import LARGE_KAPPA

    assert LARGE_KAPPA <= 1e150  # the switch sits below the first concentration that overflows
    torch.manual_seed(0)
    mu = torch.nn.functional.normalize(torch.randn(3, d, dtype=torch.float64), dim=-1)
    k = torch.full((3,), kappa, dtype=torch.float64, requires_grad=True)
    z = VonMisesFisher(mu, k).rsample((4,))
    assert float((z.detach() - mu).abs().max()) <= 4 * np.finfo(np.float64).eps
    z.sum().backward()
    assert bool(torch.isfinite(k.grad).all())
    gen = torch.Generator().manual_seed(1)
    omw = wood_one_minus_w(k.detach(), d, symmetric_beta((3,), d, "cpu", gen), gen)
    assert bool(((omw >= 0) & (omw <= 2 * d / kappa + 1e-300)).all())


@pytest.mark.parametrize("kappa", [1e154, 1e300])
def test_fused_rsample_at_huge_kappa(kappa: float) -> None:
    from hvae.fused import vmf_rsample_kl

    torch.manual_seed(0)
    r = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    k = torch.full((5,), kappa, dtype=torch.float64, requires_grad=True)
    z, kl = vmf_rsample_kl(r, k)
    mu = torch.nn.functional.normalize(r.detach(), dim=-1)
    assert float((z.detach() - mu).abs().max()) <= 4 * np.finfo(np.float64).eps
    (z.sum() + kl.sum()).backward()
    assert bool(torch.isfinite(r.grad).all()) and bool(torch.isfinite(k.grad).all())


def test_wood_envelope_is_continuous_across_the_large_kappa_switch() -> None:
    """b from the closed form just below the switch equals the small-s form just above it to
    rounding, and b ~ (d-1) / (4 kappa) (their common limit)."""
    from hvae._kernels import LARGE_KAPPA
    from hvae.sampling import wood_envelope

    for d in (2, 5, 1000):
        k = torch.tensor([LARGE_KAPPA * (1 - 1e-15), LARGE_KAPPA], dtype=torch.float64)
        b = wood_envelope(k, d)[0]
        assert float(b[0]) == pytest.approx(float(b[1]), rel=1e-14)
        assert float(b[1]) == pytest.approx((d - 1) / (4 * LARGE_KAPPA), rel=1e-14)
