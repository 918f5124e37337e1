"""Tests for hvae.special: log I_v, I_v / I_{v-1} and the rescaled log I_v against mpmath.

References come from ``tests/reference.py`` (mpmath at 30 digits, never ``hvae``). Grid: the
orders below times 21 log-spaced arguments in [1e-8, 1e8], each exactly representable in float32,
so that both dtypes are compared with the reference at the very same argument and only the
function's own error is measured.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import reference as ref
import torch

from hvae.special import (
    DEBYE_MIN_ORDER,
    DEBYE_TERMS,
    bessel_terms,
    iv_ratio,
    iv_ratio_bounds,
    iv_ratio_derivative,
    kappa_mle,
    log_iv,
    mean_resultant_length_large_kappa,
    mean_resultant_length_small_kappa,
)

ORDERS = (0.0, 0.5, 1.0, 2.5, 7.0, 13.5, 14.0, 20.0, 100.0, 1000.0, 10000.0)
# 10^-8, 10^-7.2, ..., 10^8, rounded to float32 so that both dtypes share the reference values
ARGS = tuple(float(t) for t in np.logspace(-8, 8, 21).astype(np.float32))
DTYPES = (torch.float64, torch.float32)
# Relative error bounds (absolute where |reference| < 1): float64 from the issue; float32 is
# the cast of a float64 computation (6e-8), so 1e-5 leaves a wide margin.
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def grid(dtype: torch.dtype) -> tuple[torch.Tensor, list[float]]:
    """The argument grid as a tensor of ``dtype``, and the same values as Python floats
    (rounded to ``dtype``: the points at which the reference must be evaluated)."""
    x = torch.tensor(ARGS, dtype=dtype)
    return x, [float(t) for t in x.tolist()]


def rel_err(got: float, expected, absolute_below: float = 0.0) -> float:
    """|got - expected| / max(|expected|, absolute_below) (absolute error where the reference
    is smaller than ``absolute_below``)."""
    expected = mp.mpf(expected)
    return float(abs(mp.mpf(got) - expected) / max(abs(expected), absolute_below))


def worst(got: torch.Tensor, expected: list, xs: list[float],
          absolute_below: float = 0.0) -> tuple[float, float]:
    """(largest rel_err of ``got`` against ``expected`` over the points ``xs``, the x where it
    occurs)."""
    return max((rel_err(g, e, absolute_below), t)
               for g, e, t in zip(got.tolist(), expected, xs, strict=True))


# ----------------------------------------------------------------------------------------------
# The references themselves
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "v, x", [(0, 3.0), (0.5, 10.0), (2, 1e3), (20, 1e-3), (500, 700.0), (10000, 1e4)]
)
def test_reference_bessel_and_poisson_integral_agree(v: float, x: float) -> None:
    """Where mp.besseli converges, the Poisson-integral fallback gives the same log I_v
    (to 1e-20 relative at 30 digits): the fallback is trustworthy where it is needed."""
    a = ref.besseli_log_iv(v, x)
    b = ref.poisson_log_iv(v, x)
    assert rel_err(b, a, absolute_below=1.0) < 1e-20


def test_reference_needs_the_fallback() -> None:
    """(v, x) = (1e4, 1e5) is a point where mp.besseli gives up (so the grid exercises the
    fallback), and the fallback value matches the Debye leading term to its expected accuracy
    (the first correction, u_1(t)/v, is ~1e-6 here)."""
    with pytest.raises(mp.libmp.NoConvergence):
        ref.besseli_log_iv(10000, 1e5)
    v, x = mp.mpf(10000), mp.mpf(1e5)
    s = mp.sqrt(v * v + x * x)
    leading = s - v * mp.asinh(v / x) - mp.log(2 * mp.pi * s) / 2
    assert abs(ref.poisson_log_iv(10000, 1e5) - leading) < 1e-5


@pytest.mark.parametrize("v", [0.0, 7.0, 1000.0, 10000.0])
@pytest.mark.parametrize("x", [300.0, 700.0, 1000.0])
def test_reference_rescaled_routes_agree(v: float, x: float) -> None:
    """The reference log 0F1 by its power series agrees with the log-Bessel route (used above
    x = 1000) where both apply, to 1e-18 relative."""
    series = ref.log_rescaled(v, x)
    with mp.workdps(ref.DPS):
        via_log = ref.log_iv(v, x) + mp.loggamma(v + 1) - v * mp.log(mp.mpf(x) / 2)
    assert rel_err(via_log, series) < 1e-18


# ----------------------------------------------------------------------------------------------
# Accuracy on the grid
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("v", ORDERS)
def test_log_iv_accuracy(v: float, dtype: torch.dtype) -> None:
    """log I_v(x): relative error <= 1e-10 (float64) / 1e-5 (float32), absolute below 1."""
    x, xs = grid(dtype)
    got = log_iv(v, x)
    assert got.dtype == dtype
    error = worst(got, [ref.log_iv(v, t) for t in xs], xs, absolute_below=1.0)
    assert error[0] <= TOL[dtype], error


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("v", ORDERS)
def test_bessel_terms_ratio_accuracy(v: float, dtype: torch.dtype) -> None:
    """bessel_terms(v, x).ratio = I_{v+1}(x) / I_v(x) and iv_ratio(v + 1, x) (the same quantity),
    relative error <= 1e-10 / 1e-5."""
    x, xs = grid(dtype)
    terms_ratio = bessel_terms(v, x).ratio
    ratio = iv_ratio(v + 1, x)
    assert terms_ratio.dtype == ratio.dtype == dtype
    expected = [mp.exp(ref.log_iv(v + 1, t) - ref.log_iv(v, t)) for t in xs]
    for got in (terms_ratio, ratio):
        error = worst(got, expected, xs)
        assert error[0] <= TOL[dtype], error


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("v", [0.25, 0.5, 0.75])
def test_iv_ratio_accuracy_orders_below_one(v: float, dtype: torch.dtype) -> None:
    """iv_ratio(v, x) = I_v / I_{v-1} for 0 < v < 1 (negative order in the denominator; a
    separate code path), against mpmath on the grid up to x = 1e4 (mp.besseli of negative
    order is slow beyond), relative error <= 1e-10 / 1e-5."""
    x, xs = grid(dtype)
    keep = [i for i, t in enumerate(xs) if t <= 1e4]
    got = iv_ratio(v, x[keep])
    small = [xs[i] for i in keep]
    error = worst(got, [ref.iv_ratio(v, t) for t in small], small)
    assert error[0] <= TOL[dtype], error


def test_iv_ratio_half_is_tanh() -> None:
    """Closed form: I_{1/2}(x) / I_{-1/2}(x) = tanh(x), over the whole grid (float64)."""
    x, xs = grid(torch.float64)
    got = iv_ratio(0.5, x)
    error = worst(got, [mp.tanh(t) for t in xs], xs)
    assert error[0] <= 1e-12, error


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("v", ORDERS)
def test_rescaled_log_accuracy(v: float, dtype: torch.dtype) -> None:
    """bessel_terms(v, x).rescaled = log[Gamma(v+1) (2/x)^v I_v(x)]: *relative* error <= 1e-10 /
    1e-5 everywhere, including tiny x where the value is ~ x^2 / (4(v+1)) (1e-21 at x = 1e-8,
    v = 1e4): that relative accuracy near 0 is what this output is for."""
    x, xs = grid(dtype)
    got = bessel_terms(v, x).rescaled
    error = worst(got, [ref.log_rescaled(v, t) for t in xs], xs)
    assert error[0] <= TOL[dtype], error


def test_rescaled_log_small_argument_limit() -> None:
    """Independent closed-form check of the small-x behaviour: for x = 1e-8 the value is
    x^2/(4(v+1)) to relative O(x^2)."""
    x = torch.tensor([1e-8], dtype=torch.float64)
    for v in ORDERS:
        expected = 1e-16 / (4 * (v + 1))
        assert bessel_terms(v, x).rescaled.item() == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Extreme arguments and x = 0
# ----------------------------------------------------------------------------------------------

EXTREME = {
    torch.float64: (1e-300, 1e-30, 1e-8, 1e8, 1e12, 1e300),
    torch.float32: (1e-37, 1e-30, 1e-8, 1e8, 1e12, 1e38),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_finite_for_every_positive_argument(dtype: torch.dtype) -> None:
    """All outputs finite for x from the smallest to the largest normal magnitudes of the
    dtype, every order of the grid; ratio in [0, 1], rescaled log >= 0."""
    x = torch.tensor(EXTREME[dtype], dtype=dtype)
    for v in ORDERS:
        terms = bessel_terms(v, x)
        for name, t in (*terms._asdict().items(), ("iv_ratio", iv_ratio(v + 1, x))):
            assert torch.isfinite(t).all(), (v, name, t)
        for name in ("ratio", "gap"):
            t = getattr(terms, name)
            assert ((t >= 0) & (t <= 1)).all(), (v, name, t)
        assert (terms.rescaled >= 0).all() and (terms.complement >= 0).all(), (v, terms)


def test_log_iv_large_argument_magnitude() -> None:
    """At x = 1e300 the leading behaviour log I_v(x) ~ x - log(2 pi x)/2 holds (sanity of the
    finite values above, not just finiteness)."""
    x = torch.tensor([1e300], dtype=torch.float64)
    for v in (0.0, 20.0, 10000.0):
        assert log_iv(v, x).item() == pytest.approx(1e300, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_values_at_zero(dtype: torch.dtype) -> None:
    """log I_0(0) = 0, log I_v(0) = -inf for v > 0; the ratios and the rescaled log vanish."""
    zero = torch.zeros(3, dtype=dtype)
    assert torch.equal(log_iv(0.0, zero), torch.zeros(3, dtype=dtype))
    for v in (0.25, 1.0, 7.0, 100.0):
        assert torch.equal(log_iv(v, zero), torch.full((3,), -math.inf, dtype=dtype))
        assert torch.equal(iv_ratio(v, zero), torch.zeros(3, dtype=dtype))
        assert torch.equal(bessel_terms(v, zero).rescaled, torch.zeros(3, dtype=dtype))


@pytest.mark.parametrize("v", [0.25, 0.5, 1.0, 3.0, 20.0])
def test_iv_ratio_gradient_at_zero(v: float) -> None:
    """R(x) = I_v(x)/I_{v-1}(x) ~ x / (2v) near 0, so dR/dx(0) = 1/(2v) (finite, documented
    as "0 at x = 0" with a derivative formula)."""
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(iv_ratio(v, x).sum(), x)
    assert grad.item() == pytest.approx(1 / (2 * v), rel=1e-12)


@pytest.mark.parametrize("v", [0.0, 2.5, 20.0])
def test_rescaled_gradient_at_zero(v: float) -> None:
    """d/dx log[Gamma(v+1)(2/x)^v I_v(x)] = I_{v+1}(x)/I_v(x), which is 0 at x = 0."""
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(bessel_terms(v, x).rescaled.sum(), x)
    assert grad.item() == 0.0


@pytest.mark.parametrize("v", [0.25, 3.0])
def test_iv_ratio_keeps_float32(v: float) -> None:
    """The result has x's dtype (docstring), also for a tensor order."""
    x = torch.tensor([0.5, 2.0], dtype=torch.float32)
    assert iv_ratio(v, x).dtype == torch.float32
    assert iv_ratio(torch.tensor([v, v + 1]), x).dtype == torch.float32


# ----------------------------------------------------------------------------------------------
# Gradients
# ----------------------------------------------------------------------------------------------

GRAD_POINTS = [0.01, 0.3, 2.0, 17.0, 150.0]


@pytest.mark.parametrize("v", [0.0, 0.5, 3.0, 13.5, 20.0])
def test_gradcheck(v: float) -> None:
    """torch.autograd.gradcheck (finite differences, float64) of all three outputs, and of
    iv_ratio for v and v + 0.25 (which for v < 1 goes through the recurrence path)."""
    x = torch.tensor(GRAD_POINTS, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: bessel_terms(v, t), (x,))
    assert torch.autograd.gradcheck(lambda t: log_iv(v, t), (x,))
    for order in (v + 0.25, v + 1):
        assert torch.autograd.gradcheck(lambda t, o=order: iv_ratio(o, t), (x,))


@pytest.mark.parametrize("v", ORDERS)
def test_log_iv_derivative_on_grid(v: float) -> None:
    """d/dx log I_v = I_{v+1}/I_v + v/x (DLMF 10.29.2), right side from mpmath: relative
    error <= 1e-10 over the whole grid (float64)."""
    x, xs = grid(torch.float64)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(log_iv(v, x).sum(), x)
    expected = [mp.exp(ref.log_iv(v + 1, t) - ref.log_iv(v, t)) + mp.mpf(v) / t for t in xs]
    error = worst(grad, expected, xs)
    assert error[0] <= 1e-10, error


DIFF_POINTS = [(v, x) for v in (0.5, 1.0, 1.5, 3.0, 20.0, 100.0)
               for x in (1e-6, 1e-3, 0.5, 3.0, 30.0, 300.0, 3e3, 3e4)]


@pytest.mark.parametrize("v, x", DIFF_POINTS)
def test_derivatives_vs_mpmath_numerical_diff(v: float, x: float) -> None:
    """Autograd derivatives against mp.diff (numerical differentiation at 30 digits) of
    mpmath's own log I_v and I_v/I_{v-1}.

    d log I_v/dx: relative 1e-10. dR/dx with R = I_v/I_{v-1}: hvae evaluates
    1 - R^2 - (2v-1)R/x, whose terms are O(1), so its error is O(eps) *absolute* (the exact
    value, ~(2v-1)/(2x^2) for large x and exponentially small for v = 1/2, can be far below
    that); bound: 1e-8 relative + 4e-15 absolute.
    """
    with mp.workdps(ref.DPS):
        d_log = mp.diff(lambda t: mp.log(mp.besseli(v, t)), mp.mpf(x))
        d_ratio = mp.diff(lambda t: mp.besseli(v, t) / mp.besseli(v - 1, t), mp.mpf(x))
    xt = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    (g_log,) = torch.autograd.grad(log_iv(v, xt).sum(), xt)
    xt = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    (g_ratio,) = torch.autograd.grad(iv_ratio(v, xt).sum(), xt)
    assert rel_err(g_log.item(), d_log) <= 1e-10
    assert abs(g_ratio.item() - float(d_ratio)) <= 1e-8 * abs(float(d_ratio)) + 4e-15


@pytest.mark.parametrize("v, x", DIFF_POINTS)
def test_iv_ratio_derivative_vs_mpmath_numerical_diff(v: float, x: float) -> None:
    """iv_ratio_derivative against mp.diff of I_v/I_{v-1}, with the bound of the autograd
    test above (1e-8 relative + 4e-15 absolute), and equal to what autograd gives for
    iv_ratio: bit for bit for v >= 1 (the same kernel output), to rounding below 1 (there
    autograd differentiates the recurrence step through its operations)."""
    with mp.workdps(ref.DPS):
        d_ratio = mp.diff(lambda t: mp.besseli(v, t) / mp.besseli(v - 1, t), mp.mpf(x))
    xt = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    (g_ratio,) = torch.autograd.grad(iv_ratio(v, xt).sum(), xt)
    got = iv_ratio_derivative(v, xt)
    assert not got.requires_grad and got.dtype == torch.float64
    assert abs(got.item() - float(d_ratio)) <= 1e-8 * abs(float(d_ratio)) + 4e-15
    if v >= 1:
        assert got.item() == g_ratio.item()
    else:
        assert got.item() == pytest.approx(g_ratio.item(), rel=1e-12, abs=1e-16)


def test_iv_ratio_derivative_shapes_dtypes_and_limits() -> None:
    """Tensor orders broadcast; float32 in, float32 out; 1/(2v) at x = 0 (below and above
    v = 1); at large x it approaches (2v - 1)/(2x^2) with full relative accuracy (no
    cancellation of its three O(1) terms)."""
    x = torch.tensor([0.0, 1e-3, 2.0, 1e6], dtype=torch.float64)
    for v in (0.25, 1.5, 50.0):
        out = iv_ratio_derivative(v, x)
        assert out[0].item() == pytest.approx(1 / (2 * v), rel=1e-12)
        assert out[-1].item() == pytest.approx((2 * v - 1) / (2 * 1e12), rel=1e-4)
    orders = torch.tensor([[1.5], [3.0]], dtype=torch.float64)
    assert iv_ratio_derivative(orders, x).shape == (2, 4)
    assert iv_ratio_derivative(1.5, x.float()).dtype == torch.float32
    with pytest.raises(ValueError, match=r"v: must be finite and > 0"):
        iv_ratio_derivative(0.0, x)


@pytest.mark.parametrize("d", [2, 3, 10, 100, 1000])
def test_mean_resultant_length_limits_vs_mpmath(d: int) -> None:
    """A_d(kappa) = kappa/d + O(kappa^3) and 1 - (d-1)/(2 kappa) + O(kappa^-2), against the
    30-digit A_d: the remainders shrink by the stated orders (factor 1000 per decade of kappa
    for the first, 100 for the second; d = 3 has its next large-kappa term (d-1)(d-3) = 0, so
    its remainder is exponentially small). Floats, arrays and tensors all work."""
    small = [abs(float(ref.iv_ratio(d / 2, k)) - mean_resultant_length_small_kappa(k, d))
             for k in (1e-2, 1e-3)]
    assert small[0] <= 1.01 * 1e-6 / (d * d * (d + 2)) and small[1] <= 1e-3 * small[0] * 1.01
    big = [abs(float(ref.iv_ratio(d / 2, k)) - mean_resultant_length_large_kappa(k, d))
           for k in (1e4 * d, 1e5 * d)]
    if d == 3:
        assert max(big) < 1e-15
    else:
        assert big[1] <= 1.02e-2 * big[0]
    kappas = np.array([0.5, 2.0])
    assert mean_resultant_length_small_kappa(kappas, d).shape == (2,)
    assert mean_resultant_length_large_kappa(torch.tensor(kappas), d).shape == (2,)


def test_debye_constants_are_the_kernels() -> None:
    """The documented constants are the ones the evaluation uses: from the order
    DEBYE_MIN_ORDER on no recurrence step is taken (so ``log_iv`` is continuous across it to
    rounding), and the coefficient table has DEBYE_TERMS rows."""
    from hvae._array_kernels import debye_coefficients

    assert debye_coefficients().shape[0] == DEBYE_TERMS == 12
    assert DEBYE_MIN_ORDER == 20
    x = torch.tensor([0.5, 30.0, 3e3], dtype=torch.float64)
    below = log_iv(DEBYE_MIN_ORDER - 1e-9, x)
    at = log_iv(float(DEBYE_MIN_ORDER), x)
    assert torch.allclose(below, at, rtol=1e-8)


def test_kappa_mle_lives_here_and_in_cluster() -> None:
    """hvae.cluster re-exports kappa_mle (its tests are in test_cluster.py); the inverse of
    iv_ratio(d/2, .) on a few points, with the new message format for bad arguments."""
    from hvae import cluster

    assert cluster.kappa_mle is kappa_mle
    for d in (3, 50):
        kappa = kappa_mle(np.array([0.2, 0.9]), d)
        a = iv_ratio(d / 2, torch.from_numpy(kappa))
        assert torch.allclose(a, torch.tensor([0.2, 0.9], dtype=torch.float64), rtol=1e-12)
    with pytest.raises(ValueError, match=r"r_bar: must be finite and in \[0, 1\)"):
        kappa_mle([0.5, 1.0], 3)
    with pytest.raises(ValueError, match="d: must be an integer >= 2"):
        kappa_mle(0.5, 1)
    with pytest.raises(ValueError, match="newton_steps: must be an integer >= 0"):
        kappa_mle(0.5, 3, newton_steps=-1)


def test_rescaled_derivative_is_ratio() -> None:
    """d/dx log[Gamma(v+1)(2/x)^v I_v] = I_{v+1}/I_v (vs mpmath, relative 1e-10), including
    tiny x, where the value and its slope are both ~ x/(2(v+1))."""
    for v in (0.0, 2.5, 100.0):
        x, xs = grid(torch.float64)
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(bessel_terms(v, x).rescaled.sum(), x)
        expected = [mp.exp(ref.log_iv(v + 1, t) - ref.log_iv(v, t)) for t in xs]
        error = worst(grad, expected, xs)
        assert error[0] <= 1e-10, (v, error)


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [log_iv, iv_ratio, lambda v, x: bessel_terms(v, x)[0]],
                         ids=["log_iv", "iv_ratio", "bessel_terms"])
def test_bad_input(fn) -> None:
    """Negative x, negative or non-finite v: ValueError naming the offending argument."""
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\bx\b"):
        fn(1.5, torch.tensor([1.0, -1e-3], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\bv\b"):
        fn(-1.0, x)
    with pytest.raises(ValueError, match=r"\bv\b"):
        fn(torch.tensor([2.0, -0.5]), x)
    with pytest.raises(ValueError, match=r"\bv\b"):
        fn(math.inf, x)


def test_iv_ratio_needs_positive_order() -> None:
    """iv_ratio(0, x) would be I_0 / I_{-1} = I_0 / I_1: outside its documented domain v > 0."""
    with pytest.raises(ValueError, match=r"\bv\b"):
        iv_ratio(0.0, torch.tensor([1.0]))


@pytest.mark.parametrize("v", [1.0, 1.5, 2.5, 5.0, 50.0, 500.0])
def test_iv_ratio_bounds_bracket_the_mpmath_ratio(v: float) -> None:
    """Amos's bounds contain the 30-digit ratio (not hvae's own) on a log grid of x from 1e-6
    to 1e6, and reach the common limits x/(2v) as x -> 0 and 1 as x -> inf."""
    xs = [10.0**e for e in range(-6, 7)]
    lower, upper = iv_ratio_bounds(v, torch.tensor(xs, dtype=torch.float64))
    for lo, hi, x in zip(lower.tolist(), upper.tolist(), xs, strict=True):
        with mp.workdps(30):
            exact = mp.besseli(v, x) / mp.besseli(v - 1, x)
        assert lo <= exact * (1 + 1e-15) and exact < hi, (v, x, lo, float(exact), hi)
    assert abs(lower[0].item() * 2 * v / xs[0] - 1) < 1e-6
    assert abs(upper[-1].item() - 1) < 1e-5 * v


def test_iv_ratio_bounds_reject_orders_below_one() -> None:
    with pytest.raises(ValueError, match="v: must be finite and >= 1"):
        iv_ratio_bounds(0.5, torch.tensor([1.0]))


@pytest.mark.parametrize("v, x", [(0.0, 0.3), (1.5, 2.0), (4.0, 40.0), (49.5, 7.0), (300.0, 1e4)])
def test_bessel_terms_and_derivatives_against_mpmath(v: float, x: float) -> None:
    """The seven outputs against mpmath: log I_v, R = I_{v+1}/I_v, 1 - R, the rescaled log L,
    x - L, and the derivatives of log I_v and of R, the latter from mpmath's numerical
    differentiation and from the identity R' = 1 - R^2 - (2v+1)R/x evaluated at 40 digits."""
    from hvae.special import bessel_terms_and_derivatives

    xt = torch.tensor([x], dtype=torch.float64)
    terms, d_log_i_got, d_ratio_got = bessel_terms_and_derivatives(v, xt)
    with mp.workdps(40):
        mv, mx = mp.mpf(v), mp.mpf(x)
        log_i = mp.log(mp.besseli(mv, mx))
        ratio = mp.besseli(mv + 1, mx) / mp.besseli(mv, mx)
        rescaled = log_i + mp.loggamma(mv + 1) - mv * mp.log(mx / 2)
        d_log_i = mp.diff(lambda t: mp.log(mp.besseli(mv, t)), mx)
        d_ratio = mp.diff(lambda t: mp.besseli(mv + 1, t) / mp.besseli(mv, t), mx)
        d_ratio_identity = 1 - ratio**2 - (2 * mv + 1) * ratio / mx
    want = (log_i, ratio, 1 - ratio, rescaled, mx - rescaled)
    for name, got, w in zip(terms._fields, terms, want, strict=True):
        assert float(got) == pytest.approx(float(w), rel=1e-13, abs=1e-300), name
    assert float(d_ratio_got) == pytest.approx(float(d_ratio_identity), rel=1e-13)
    # mp.diff's own accuracy bounds these two
    for got, w in ((d_log_i_got, d_log_i), (d_ratio_got, d_ratio)):
        assert abs(float(got) - float(w)) <= 1e-10 * abs(float(w)) + 4e-15
