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

from hvae.special import bessel_terms, iv_ratio, log_iv

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
    """Where mpmath.besseli converges, the Poisson-integral fallback gives the same log I_v
    (to 1e-20 relative at 30 digits): the fallback is trustworthy where it is needed."""
    a = ref.besseli_log_iv(v, x)
    b = ref.poisson_log_iv(v, x)
    assert rel_err(b, a, absolute_below=1.0) < 1e-20


def test_reference_needs_the_fallback() -> None:
    """(v, x) = (1e4, 1e5) is a point where mpmath.besseli gives up (so the grid exercises the
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
    """bessel_terms(v, x)[1] = I_{v+1}(x) / I_v(x) and iv_ratio(v + 1, x) (the same quantity),
    relative error <= 1e-10 / 1e-5."""
    x, xs = grid(dtype)
    terms_ratio = bessel_terms(v, x)[1]
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
    separate code path), against mpmath on the grid up to x = 1e4 (mpmath.besseli of negative
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
    """bessel_terms(v, x)[2] = log[Gamma(v+1) (2/x)^v I_v(x)]: *relative* error <= 1e-10 /
    1e-5 everywhere, including tiny x where the value is ~ x^2 / (4(v+1)) (1e-21 at x = 1e-8,
    v = 1e4): that relative accuracy near 0 is what this output is for."""
    x, xs = grid(dtype)
    got = bessel_terms(v, x)[2]
    error = worst(got, [ref.log_rescaled(v, t) for t in xs], xs)
    assert error[0] <= TOL[dtype], error


def test_rescaled_log_small_argument_limit() -> None:
    """Independent closed-form check of the small-x behaviour: for x = 1e-8 the value is
    x^2/(4(v+1)) to relative O(x^2)."""
    x = torch.tensor([1e-8], dtype=torch.float64)
    for v in ORDERS:
        expected = 1e-16 / (4 * (v + 1))
        assert bessel_terms(v, x)[2].item() == pytest.approx(expected, rel=1e-12)


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
        log_i, ratio, rescaled = bessel_terms(v, x)
        for name, t in (("log_iv", log_i), ("ratio", ratio), ("rescaled", rescaled),
                        ("iv_ratio", iv_ratio(v + 1, x))):
            assert torch.isfinite(t).all(), (v, name, t)
        assert ((ratio >= 0) & (ratio <= 1)).all(), (v, ratio)
        assert (rescaled >= 0).all(), (v, rescaled)


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
        assert torch.equal(bessel_terms(v, zero)[2], torch.zeros(3, dtype=dtype))


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
    (grad,) = torch.autograd.grad(bessel_terms(v, x)[2].sum(), x)
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
    """Autograd derivatives against mpmath.diff (numerical differentiation at 30 digits) of
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


def test_rescaled_derivative_is_ratio() -> None:
    """d/dx log[Gamma(v+1)(2/x)^v I_v] = I_{v+1}/I_v (vs mpmath, relative 1e-10), including
    tiny x, where the value and its slope are both ~ x/(2(v+1))."""
    for v in (0.0, 2.5, 100.0):
        x, xs = grid(torch.float64)
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(bessel_terms(v, x)[2].sum(), x)
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
    from hvae.special import iv_ratio_bounds

    xs = [10.0**e for e in range(-6, 7)]
    lower, upper = iv_ratio_bounds(v, torch.tensor(xs, dtype=torch.float64))
    for lo, hi, x in zip(lower.tolist(), upper.tolist(), xs, strict=True):
        with mp.workdps(30):
            exact = mp.besseli(v, x) / mp.besseli(v - 1, x)
        assert lo <= exact * (1 + 1e-15) and exact < hi, (v, x, lo, float(exact), hi)
    assert abs(lower[0].item() * 2 * v / xs[0] - 1) < 1e-6
    assert abs(upper[-1].item() - 1) < 1e-5 * v


def test_iv_ratio_bounds_reject_orders_below_one() -> None:
    from hvae.special import iv_ratio_bounds

    with pytest.raises(ValueError, match="v >= 1"):
        iv_ratio_bounds(0.5, torch.tensor([1.0]))
