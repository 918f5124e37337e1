r"""Property-based tests (hypothesis) of :class:`hvae.distributions.VonMisesFisher`, of
:class:`hvae.distributions.HypersphericalUniform` and of ``kl_divergence`` between them.

Each example draws an ambient dimension d (points of :math:`S^{d-1} \subset \mathbb{R}^d`), a
dtype, a batch shape and one concentration per batch entry, and checks:

- draws (``rsample``) are finite, of the right shape and on the sphere;
- ``log_prob`` of the distribution's own draws is finite (``validate_args=True``);
- the KL to the uniform law is finite and >= 0, and equals a closed form evaluated here with
  ``mpmath.besseli`` (textbook formulas, no code shared with ``hvae`` or tests/reference.py);
- ``log_prob`` at the mode equals the same closed form's :math:`\log C_d(\kappa) + \kappa`;
- entropy + KL = :math:`\log|S^{d-1}|` to rounding;
- the gradients of a draw, of ``log_prob`` and of the KL in ``loc`` and ``concentration`` are
  finite.

Strategies (see :func:`cases`): d in 2..10^4, weighted towards small d (about a fifth of the
examples have d > 100); kappa log-uniform over the whole finite positive range the dtype holds
(float64: 1e-300 .. 1e300; float32: 1e-37 .. 3e38), log-uniform over the everyday range
1e-4 .. 1e6, or one of the dtype's boundary values (smallest subnormal, smallest normal, eps,
1 +- eps, 1/eps, sqrt of the extremes, the largest finite value and its neighbour); dtype float32
or float64; batch shape of 0 to 2 dimensions of size 1..3, with one kappa drawn per entry; loc
a seeded random unit vector or +-e_1 or +-e_d; a sample shape () or (n,), with
batch * n * d <= 2^16 elements. The two tests against mpmath draw d <= 1000 (where
``besseli`` takes at most ~0.2 s at any kappa) and every kappa. Every example seeds torch
(``torch.manual_seed``) from a drawn seed, and hypothesis runs derandomized without a
database, so the examples are the same on every run.

Tolerances (eps = ``torch.finfo(dtype).eps``):

- sphere: :math:`|\,\|z\|_2 - 1| \le 4(2 + \sqrt d)\,\varepsilon` (the norm taken in float64;
  a few roundings per coordinate, plus the length-d dot product of the reflection, whose
  rounding error grows like :math:`\sqrt d\,\varepsilon`);
- KL and log_prob at the mode against mpmath: float64 :math:`|x - x_{\rm ref}| \le 10^{-13}
  \max(1, |x_{\rm ref}|)` (relative, absolute below 1); float32 :math:`\le 10\,\varepsilon_{32}
  \max(1, |x_{\rm ref}|)`, with the reference evaluated at the float32 kappa itself;
- entropy + KL - log|S^{d-1}|: :math:`\le 16\,\varepsilon\,M`, where
  :math:`M = |\log|S^{d-1}|| + \tfrac d2 \log(2 + \kappa)` bounds the size of the entropy, the
  KL and the log area a priori (the KL grows like :math:`\frac{d-1}2\log\kappa`), so the bound
  is rounding of quantities of the true size, not of intermediate terms of size kappa.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.distributions import kl_divergence

from hvae.distributions import HypersphericalUniform, VonMisesFisher, log_sphere_area

DTYPES = (torch.float64, torch.float32)
MAX_ELEMENTS = 2**16  # batch * n * d per draw: keeps every example's memory small


def settings_for(examples: int):
    """Deterministic (derandomized, no example database) and without a deadline."""
    return settings(derandomize=True, database=None, deadline=None, max_examples=examples,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------


def dims(max_d: int = 10**4) -> st.SearchStrategy[int]:
    """d in 2..max_d, mostly small: one_of picks a branch uniformly, so the small ranges are
    listed several times."""
    branches = [st.sampled_from([2, 3]), st.integers(2, 10), st.integers(2, 10),
                st.integers(11, min(100, max_d))]
    if max_d > 100:
        branches.append(st.integers(101, max_d))
    return st.one_of(branches)


def boundary_kappas(dtype: torch.dtype) -> list[float]:
    """Positive finite values at the edges of the dtype's range and around 1."""
    fi = torch.finfo(dtype)
    npt = np.float64 if dtype == torch.float64 else np.float32
    one = npt(1)
    big = npt(fi.max)
    values = [fi.smallest_normal * fi.eps, fi.smallest_normal, 2 * fi.smallest_normal,
              math.sqrt(fi.smallest_normal), fi.eps, 0.5, np.nextafter(one, npt(0)), 1.0,
              np.nextafter(one, npt(2)), 2.0, 1 / fi.eps, math.sqrt(fi.max), fi.max / 2,
              np.nextafter(big, npt(0)), fi.max]
    return sorted({float(npt(v)) for v in values})


def in_dtype(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to the dtype, kept positive and finite (a python float)."""
    fi = torch.finfo(dtype)
    v = float(np.float32(value)) if dtype == torch.float32 else float(value)
    return min(max(v, fi.smallest_normal * fi.eps), fi.max)


def kappas(dtype: torch.dtype) -> st.SearchStrategy[float]:
    """Concentrations the dtype holds: log-uniform over the whole range, log-uniform over the
    everyday range, or a boundary value."""
    lo, hi = (-300.0, 300.0) if dtype == torch.float64 else (-37.0, 38.5)
    whole = st.floats(lo, hi).map(lambda e: in_dtype(10.0**e, dtype))
    everyday = st.floats(-4.0, 6.0).map(lambda e: in_dtype(10.0**e, dtype))
    return st.one_of(whole, everyday, st.sampled_from(boundary_kappas(dtype)))


@dataclass(frozen=True)
class Case:
    """One drawn example (its repr is what hypothesis prints for a falsifying example)."""

    d: int
    dtype: torch.dtype
    batch_shape: tuple[int, ...]
    kappa: tuple[float, ...]  # one per batch entry, row-major
    loc: str  # "random", "e1", "-e1", "ed", "-ed"
    sample_shape: tuple[int, ...]
    method: str
    seed: int

    def loc_tensor(self) -> torch.Tensor:
        """Unit mean directions of shape batch + (d,) in the dtype (normalised in float64)."""
        shape = (*self.batch_shape, self.d)
        if self.loc == "random":
            g = torch.randn(shape, dtype=torch.float64)
            mu = g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)
        else:
            mu = torch.zeros(shape, dtype=torch.float64)
            mu[..., 0 if self.loc.endswith("e1") else -1] = -1.0 if self.loc[0] == "-" else 1.0
        return mu.to(self.dtype)

    def kappa_tensor(self) -> torch.Tensor:
        return torch.tensor(self.kappa, dtype=self.dtype).reshape(self.batch_shape)


@st.composite
def cases(draw, max_d: int = 10**4, methods: bool = False, samples: bool = True) -> Case:
    d = draw(dims(max_d))
    dtype = draw(st.sampled_from(DTYPES))
    batch_shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    entries = math.prod(batch_shape)
    kappa = tuple(draw(st.lists(kappas(dtype), min_size=entries, max_size=entries)))
    loc = draw(st.sampled_from(["random", "e1", "-e1", "ed", "-ed"]))
    room = MAX_ELEMENTS // (entries * d)
    sample_shape = ()
    if samples and room >= 1:
        sample_shape = draw(st.sampled_from([(), (min(2, room),), (min(5, room),)]))
    method = "auto"
    if methods:
        method = draw(st.sampled_from(["auto", "rejection", "inverse_cdf"]
                                      + (["exact"] if d == 3 else [])))
    seed = draw(st.integers(0, 2**31 - 1))
    return Case(d, dtype, batch_shape, kappa, loc, sample_shape, method, seed)


def build(case: Case, requires_grad: bool = False):
    """(p, loc, kappa) for ``case``, with torch seeded from it; validate_args on."""
    torch.manual_seed(case.seed)
    loc = case.loc_tensor().requires_grad_(requires_grad)
    kappa = case.kappa_tensor().requires_grad_(requires_grad)
    p = VonMisesFisher(loc, kappa, validate_args=True, method=case.method)
    return p, loc, kappa


def sphere_tolerance(d: int, dtype: torch.dtype) -> float:
    return 4 * (2 + math.sqrt(d)) * torch.finfo(dtype).eps


# ----------------------------------------------------------------------------------------------
# The independent closed forms (mpmath)
# ----------------------------------------------------------------------------------------------


def mp_digits(d: int, kappa: float) -> int:
    """Working precision for the closed forms: 25 digits beyond those lost to cancellation.

    The terms summed are of size at most kappa + d (|log kappa| + log d + 5) while the results
    are wanted to 1e-13 of max(1, |result|); the cost of besseli stays below ~0.2 s (d <= 1000,
    any kappa; checked when the file was written)."""
    terms = kappa + d * (abs(math.log(kappa)) + math.log(d) + 5)
    return 25 + max(0, math.ceil(math.log10(terms)))


def mp_log_normalizer_and_kl(d: int, kappa: float) -> tuple[mp.mpf, mp.mpf]:
    r"""(:math:`\log C_d(\kappa)`, KL(vMF || uniform)) from the textbook formulas

    .. math::
       \log C_d = v\log\kappa - \tfrac d2\log 2\pi - \log I_v(\kappa),\quad v = d/2 - 1,\qquad
       \mathrm{KL} = \kappa A_d(\kappa) + \log C_d(\kappa) + \log|S^{d-1}|,

    :math:`A_d = I_{d/2}/I_{d/2-1}`, :math:`\log|S^{d-1}| = \log 2 + \frac d2\log\pi
    - \log\Gamma(\frac d2)`, with ``mpmath.besseli`` at :func:`mp_digits` digits."""
    with mp.workdps(mp_digits(d, kappa)):
        k = mp.mpf(kappa)  # exact: kappa is a double
        v = mp.mpf(d) / 2 - 1
        i_v = mp.besseli(v, k)
        a_d = mp.besseli(v + 1, k) / i_v
        log_c = v * mp.log(k) - mp.mpf(d) / 2 * mp.log(2 * mp.pi) - mp.log(i_v)
        log_area = mp.log(2) + mp.mpf(d) / 2 * mp.log(mp.pi) - mp.loggamma(mp.mpf(d) / 2)
        return +log_c, k * a_d + log_c + log_area


def reference_tolerance(dtype: torch.dtype, ref: mp.mpf) -> float:
    """1e-13 of max(1, |ref|) in float64, 10 float32 eps of it in float32."""
    scale = max(1.0, abs(float(ref)))
    return (1e-13 if dtype == torch.float64 else 10 * torch.finfo(torch.float32).eps) * scale


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:method='inverse_cdf'")  # its accuracy warnings: not tested here
@settings_for(300)
@given(cases(methods=True))
def test_draws_are_finite_and_on_the_sphere(case: Case) -> None:
    """rsample: shape sample_shape + batch + (d,), finite, and within
    4 (2 + sqrt d) eps of unit norm (norm evaluated in float64); every method, including the
    approximate inverse_cdf (whose draws must still lie on the sphere)."""
    p, _, _ = build(case)
    z = p.rsample(case.sample_shape)
    assert z.shape == (*case.sample_shape, *case.batch_shape, case.d)
    assert z.dtype == case.dtype
    assert torch.isfinite(z).all(), "non-finite draw"
    err = (torch.linalg.vector_norm(z.double(), dim=-1) - 1).abs()
    tol = sphere_tolerance(case.d, case.dtype)
    assert err.numel() == 0 or err.max().item() <= tol, f"| |z| - 1 | = {err.max().item():.3g}"


@settings_for(200)
@given(cases())
def test_log_prob_of_own_draws_is_finite(case: Case) -> None:
    """log_prob (validate_args=True, so the draws pass the support check) is finite."""
    p, _, _ = build(case)
    z = p.rsample(case.sample_shape)
    log_p = p.log_prob(z)
    assert log_p.shape == (*case.sample_shape, *case.batch_shape)
    assert log_p.dtype == case.dtype
    assert torch.isfinite(log_p).all(), f"log_prob = {log_p}"


@settings_for(200)
@given(cases(samples=False))
def test_kl_is_finite_and_nonnegative(case: Case) -> None:
    """KL(vMF || uniform) >= 0 and finite, of the batch shape, for every d and kappa."""
    p, _, _ = build(case)
    q = HypersphericalUniform(case.d, batch_shape=case.batch_shape, dtype=case.dtype)
    kl = kl_divergence(p, q)
    assert kl.shape == case.batch_shape and kl.dtype == case.dtype
    assert torch.isfinite(kl).all(), f"KL = {kl}"
    assert (kl >= 0).all(), f"KL = {kl}"


@settings_for(300)
@given(cases(max_d=1000, samples=False))
def test_kl_matches_the_closed_form(case: Case) -> None:
    """KL = kappa A_d + log C_d + log|S^{d-1}| by mpmath: relative 1e-13 in float64 (absolute
    below 1), 10 float32 eps in float32; d <= 1000, where besseli is fast."""
    p, _, _ = build(case)
    q = HypersphericalUniform(case.d, batch_shape=case.batch_shape, dtype=case.dtype)
    kl = kl_divergence(p, q).reshape(-1)
    for got, kappa in zip(kl.tolist(), case.kappa, strict=True):
        _, ref = mp_log_normalizer_and_kl(case.d, kappa)
        err = abs(mp.mpf(got) - ref)
        assert got >= 0, f"KL = {got!r} at kappa = {kappa!r}"
        assert err <= reference_tolerance(case.dtype, ref), (
            f"kappa = {kappa!r}: KL = {got!r}, closed form {mp.nstr(ref, 17)}, "
            f"error {mp.nstr(err, 3)}")


@settings_for(200)
@given(cases(max_d=1000, samples=False))
def test_log_prob_at_the_mode_matches_the_closed_form(case: Case) -> None:
    """log_prob(mu) = log C_d(kappa) + kappa by mpmath, for mu = +-e_1 or +-e_d (exactly unit,
    so <mu, mu> = 1 exactly and only the normaliser is tested); tolerances as for the KL."""
    axis = replace(case, loc="e1" if case.loc == "random" else case.loc)
    mode = axis.loc_tensor()
    p = VonMisesFisher(mode, case.kappa_tensor(), validate_args=True)
    log_p = p.log_prob(mode).reshape(-1)
    for got, kappa in zip(log_p.tolist(), case.kappa, strict=True):
        log_c, _ = mp_log_normalizer_and_kl(case.d, kappa)
        with mp.workdps(mp_digits(case.d, kappa)):
            ref = log_c + mp.mpf(kappa)
        err = abs(mp.mpf(got) - ref)
        assert err <= reference_tolerance(case.dtype, ref), (
            f"kappa = {kappa!r}: log_prob(mu) = {got!r}, closed form {mp.nstr(ref, 17)}, "
            f"error {mp.nstr(err, 3)}")


@settings_for(300)
@given(cases(samples=False))
def test_entropy_plus_kl_is_the_log_area(case: Case) -> None:
    """H + KL = log|S^{d-1}| within 16 eps M, M = |log|S^{d-1}|| + (d/2) log(2 + kappa) (an
    a-priori bound on the size of H and KL)."""
    p, _, _ = build(case)
    q = HypersphericalUniform(case.d, batch_shape=case.batch_shape, dtype=case.dtype)
    h, kl = p.entropy(), kl_divergence(p, q)
    assert h.shape == case.batch_shape and h.dtype == case.dtype
    log_area = log_sphere_area(case.d)
    eps = torch.finfo(case.dtype).eps
    for hi, kli, kappa in zip(h.reshape(-1).tolist(), kl.reshape(-1).tolist(), case.kappa,
                              strict=True):
        size = abs(log_area) + case.d / 2 * math.log(2 + kappa)
        err = abs(hi + kli - log_area)  # python floats: the sum's own rounding is 1 ulp
        assert err <= 16 * eps * size, (
            f"kappa = {kappa!r}: H = {hi!r}, KL = {kli!r}, "
            f"H + KL - log|S| = {hi + kli - log_area!r} (bound {16 * eps * size:.3g})")


@settings_for(200)
@given(cases())
def test_gradients_are_finite(case: Case) -> None:
    """d/d(loc, kappa) of <z, c> (z = rsample, c a fixed vector; averaged over the draws of
    an entry, summed over the batch), of log_prob of one (detached) draw per entry and of the
    KL are finite; the kappa gradients exist.

    One draw for log_prob: its gradient in loc is kappa z, finite for every finite kappa, while
    a sum over n draws may overflow legitimately when kappa > max / n."""
    p, loc, kappa = build(case, requires_grad=True)
    c = torch.linspace(-1, 1, case.d, dtype=case.dtype) + 0.5
    z = p.rsample(case.sample_shape)
    one_draw = z.detach().reshape(-1, *case.batch_shape, case.d)[0]
    q = HypersphericalUniform(case.d, batch_shape=case.batch_shape, dtype=case.dtype)
    outputs = {
        "rsample": (z * c).sum(-1).reshape(-1, *case.batch_shape).mean(0).sum(),
        "log_prob": p.log_prob(one_draw).sum(),
        "kl": kl_divergence(p, q).sum(),
    }
    for name, out in outputs.items():
        grad_loc, grad_kappa = torch.autograd.grad(out, (loc, kappa), allow_unused=True,
                                                   retain_graph=True)
        assert grad_kappa is not None, f"{name}: no gradient in kappa"
        assert torch.isfinite(grad_kappa).all(), f"{name}: d/dkappa = {grad_kappa}"
        if name != "kl":  # the KL does not depend on loc
            assert grad_loc is not None, f"{name}: no gradient in loc"
        if grad_loc is not None:
            assert torch.isfinite(grad_loc).all(), f"{name}: d/dloc = {grad_loc}"
