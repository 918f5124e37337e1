r"""The CUDA-path kernels: torch array code, any device, twin of each compiled loop.

Each operator of :mod:`hvae.ops` runs a compiled loop of :mod:`hvae._kernels` (numba) on the CPU
and the array code here elsewhere; tests/test_kernels.py runs both on the CPU and compares them.
Everything is float64.

:func:`bessel_terms` is the Bessel kernel whose method :mod:`hvae.special` documents: Debye's
uniform expansion at an order ``top >= DEBYE_MIN_ORDER``, then the backward recurrence, with the
rescaled log :math:`L` and its complement :math:`x - L` written as sums of positive terms.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import torch

__all__ = ["DEBYE_MIN_ORDER", "DEBYE_TERMS", "TINY_ARGUMENT", "bessel_terms", "debye_coefficients"]

#: The smallest order :math:`V_0` evaluated by the Debye expansion; lower orders are reached by
#: the backward recurrence from :math:`V = v + \lceil V_0 - v\rceil`.
DEBYE_MIN_ORDER = 20
#: The number of correction terms :math:`u_1, \dots, u_{12}` of the Debye expansion.
DEBYE_TERMS = 12
#: Below this argument the Bessel terms are their leading terms to rounding (x^2 < 1e-300);
#: the recurrence's 2k/x would overflow for subnormal x. (hvae._kernels has the same.)
TINY_ARGUMENT = 1e-150


@lru_cache(maxsize=1)
def debye_coefficients() -> torch.Tensor:
    r"""Matrix ``a`` (rows k = 1..12) with :math:`u_k(t) = t^k \sum_j a[k-1, j]\, t^{2j}`.

    From :math:`u_{k+1}(t) = \tfrac12 t^2(1-t^2) u_k'(t) + \tfrac18 \int_0^t (1-5s^2) u_k(s)\,ds`
    (DLMF 10.41.9), in exact rational arithmetic.
    """
    polys = [{0: Fraction(1)}]
    for _ in range(DEBYE_TERMS):
        u, nxt = polys[-1], {}
        for p, c in u.items():
            if p > 0:  # 1/2 t^2 (1 - t^2) u'(t)
                nxt[p + 1] = nxt.get(p + 1, 0) + c * p / 2
                nxt[p + 3] = nxt.get(p + 3, 0) - c * p / 2
            nxt[p + 1] = nxt.get(p + 1, 0) + c / (8 * (p + 1))  # 1/8 int (1 - 5 s^2) u
            nxt[p + 3] = nxt.get(p + 3, 0) - 5 * c / (8 * (p + 3))
        polys.append(nxt)
    a = torch.zeros(DEBYE_TERMS, DEBYE_TERMS + 1, dtype=torch.float64)
    for k, u in enumerate(polys[1:], start=1):
        for p, c in u.items():
            a[k - 1, (p - k) // 2] = float(c)
    return a


@lru_cache(maxsize=8)
def _tables(device: torch.device) -> tuple[torch.Tensor, ...]:
    """The coefficients times 1, p and p (p - 1) (p = k + 2j) and the exponents 0..12."""
    a = debye_coefficients().to(device)
    powers = torch.arange(DEBYE_TERMS + 1, dtype=torch.float64, device=device)
    p = powers[1:, None] + 2 * powers[None, :]
    return a, a * p, a * p * (p - 1), powers


def _debye_sums(t, v):
    r"""(S, t S'(t), t^2 S''(t)) for :math:`S = \sum_{k=1}^{12} u_k(t)/v^k
    = \sum_k (t/v)^k \sum_j a_{kj} t^{2j}`: the monomial :math:`t^p`, :math:`p = k + 2j`,
    contributes p and p (p - 1) times itself to the two derivatives."""
    *coefficients, powers = _tables(t.device)
    y = (t * t)[..., None] ** powers  # (t^2)^j, j = 0..12
    q = (t / v)[..., None] ** powers[1:]  # (t/v)^k, k = 1..12
    return tuple(((y @ c.T) * q).sum(-1) for c in coefficients)


def _x_minus_log1p(y):
    """y - log(1 + y), y >= 0, without cancellation: with u = y / (2 + y), log(1 + y) =
    2 atanh(u), so below y = 1 it is 2u^2/(1 - u) - 2 sum_{k>=1} u^(2k+1)/(2k+1), u <= 1/3."""
    below = torch.where(y < 1, y, 1.0)
    u = below / (2 + below)
    u2 = u * u
    tail, term = torch.zeros_like(u), u
    for k in range(1, 20):
        term = term * u2
        tail = tail + term / (2 * k + 1)
    return torch.where(y < 1, 2 * u2 / (1 - u) - 2 * tail, y - torch.log1p(y))


def _stirling_tail(v):
    """log Gamma(v + 1) - (v + 1/2) log v + v - log(2 pi)/2 for v >= 14, by Stirling's series
    (8 terms: below 1e-20 there)."""
    r = 1 / v
    r2 = r * r
    return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (
        1 / 1188 - r2 * (691 / 360360 - r2 * (1 / 156 - r2 * 3617 / 122400)))))))


def _debye_top(top, x):
    """(log I, R, 1 - R, L, x - L, R') at the order ``top`` >= DEBYE_MIN_ORDER, x > 0."""
    s0 = torch.hypot(top, x)
    c0 = x / s0
    sum0, tds0, t2dds0 = _debye_sums(top / s0, top)
    log_sum0 = torch.log1p(sum0)
    log_i = (s0 - top * torch.arcsinh(top / x) - 0.5 * (math.log(2 * math.pi) + torch.log(s0))
             + log_sum0)
    t = x * (x / (s0 + top))  # s0 - top, without overflow
    corr = log_sum0 + _stirling_tail(top)
    y = t / (2 * top)
    # t - top log(1 + y): as t/2 + top (y - log1p y) where that cancels (y < 1); otherwise as it
    # is, which also keeps t/2 + top y from rounding past the largest double
    head = torch.where(y < 1, 0.5 * t + top * _x_minus_log1p(y), t - top * torch.log1p(y))
    rescaled = head - 0.5 * torch.log1p(t / top) + corr
    # V (t + x) / (s0 + x), divided through by x so that nothing overflows at x ~ 1e308
    complement = (top * (x / (s0 + top) + 1) * (c0 / (1 + c0)) + top * torch.log1p(t / (2 * top))
                  + 0.5 * torch.log1p(t / top) - corr)
    # log R = log I_{top+1} - log I_top as a difference of two expansions, nothing cancelling
    w = top + 1
    s1 = torch.hypot(w, x)
    ds = (2 * w - 1) / s0 / (1 + s1 / s0)  # (2w - 1) / (s1 + s0)
    log_r = (ds - torch.arcsinh(w / x) - top * torch.log1p((1 + ds) / (top + s0))
             - 0.5 * torch.log1p(ds / s0) + torch.log1p(_debye_sums(w / s1, w)[0]) - log_sum0)
    # R' = (log I_top)'' + top/x^2, differentiated term by term
    tau_d = tds0 / (1 + sum0)
    bracket = t2dds0 / (1 + sum0) * c0 * c0 - tau_d * (1 - 3 * c0 * c0) - (tau_d * c0) ** 2
    d_ratio = ((top / s0) / (s0 + top) + 0.5 * ((x - top) / s0) * ((x + top) / s0) / s0 / s0
               + bracket / s0 / s0)
    return log_i, torch.exp(log_r), -torch.expm1(log_r), rescaled, complement, d_ratio


def _log_series_0f1(v, x, terms: int = 16):
    """log 0F1(; v+1; x^2/4) by its power series; used where x^2 <= 2 (v + 1), where term k+1
    is at most 1 / (2(k+1)) times term k, so 16 terms leave < 1e-18."""
    k = torch.arange(terms, dtype=torch.float64, device=x.device)
    step = (0.25 * x * x)[..., None] / ((k + 1) * (v[..., None] + 1 + k))
    return torch.log1p(step.cumprod(-1).sum(-1))


def bessel_terms(v: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(log I_v, R = I_(v+1)/I_v, 1 - R, L, x - L, d log I_v/dx, dR/dx) of float64 ``x`` >= 0
    and orders ``v`` (0-d, or of x's shape), as :func:`hvae._kernels.bessel_terms` computes them
    in a loop; n steps of the recurrence from ``top = v + n``, masked per element."""
    zero = x == 0
    tiny = x < TINY_ARGUMENT  # leading terms (see _bessel_tiny); 2k/x would overflow
    xs = torch.where(tiny, 1.0, x)
    steps = torch.ceil(DEBYE_MIN_ORDER - v).clip(0)
    top = v + steps
    log_i, ratio, gap, rescaled, complement, d_ratio = _debye_top(top, xs)
    n_max = math.ceil(DEBYE_MIN_ORDER)  # no order needs more steps; finished entries masked
    for j in range(n_max):  # orders k = top, ..., v + 1: r_k = I_k / I_(k-1)
        active = steps > j
        k = top - j
        step = torch.where(active, torch.log1p(xs * ratio / (2 * k)), 0.0)
        rescaled, complement = rescaled + step, complement - step
        t = k * (2 / xs) - gap
        gap = torch.where(active, t / (1 + t), gap)
        ratio = torch.where(active, 1 / (1 + t), ratio)
        d_ratio = torch.where(active, (ratio * (2 * k / xs)) * (ratio / xs)
                              - ratio * ratio * d_ratio, d_ratio)
        log_i = log_i + torch.where(active, torch.log1p(t), 0.0)
    small = xs <= (2 * (v + 1)) ** 0.5  # there the series is exact, cancellation-free
    series = _log_series_0f1(v.expand_as(xs), torch.where(small, xs, 0.0))
    rescaled = torch.where(small, series, rescaled)
    complement = torch.where(small, xs - series, complement)
    d_log_i = ratio + v / xs
    d_ratio = d_ratio.clip(0)
    small_terms = _bessel_tiny(v, x)
    out = (log_i, ratio, gap, rescaled, complement, d_log_i, d_ratio)
    out = tuple(torch.where(tiny, a, b) for a, b in zip(small_terms, out, strict=True))
    # limits at x = 0: log I_0(0) = 0, log I_v(0) = -inf, d log I_v/dx = v/x -> inf
    log_i = torch.where(zero & (v == 0), 0.0, out[0])
    d_log_i = torch.where(zero & (v == 0), 0.0, out[5])
    return log_i, *out[1:5], d_log_i, out[6]


def _bessel_tiny(v, x):
    """The seven Bessel terms for 0 <= x < TINY_ARGUMENT: I_v(x) = (x/2)^v / Gamma(v+1) (1 + L)
    with L = x^2 / (4(v+1)), R = x / (2v + 2), R' = 1 / (2v + 2)."""
    rescaled = 0.25 * x * x / (v + 1)
    ratio = x / (2 * v + 2)
    log_i = v * (torch.log(x) - math.log(2.0)) - torch.lgamma(v + 1) + rescaled
    return (log_i, ratio, 1 - ratio, rescaled, x - rescaled, ratio + v / x,
            (1 / (2 * v + 2)).expand_as(x))
