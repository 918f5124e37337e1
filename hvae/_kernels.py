r"""Compiled (numba) loops: the CPU kernels of the operators of :mod:`hvae.ops`.

For a batch of 64 the array versions of these computations cost less in arithmetic than in
calling some hundred small tensor operations; these kernels make one pass over the batch
instead. Each has an array twin in :mod:`hvae._array_kernels` (torch, any device: the CUDA
path), and tests/test_kernels.py runs both on the CPU and checks that they agree to rounding:

- :func:`bessel_terms` is ``_array_kernels.bessel_terms`` (Debye's expansion and the backward
  recurrence, documented in :mod:`hvae.special`);
- :func:`wood_sample` is ``_array_kernels.wood_one_minus_w`` (Wood's sampler), one entry at a
  time with numba's generator (the same law, other random numbers: compared by KS tests);
- :func:`vmf_sample` is the whole draw of ``hvae.ops._vmf_rsample_arrays`` in one pass (the
  first proposal from the Gaussian block as ``_array_kernels.beta_from_gaussian`` computes it,
  Wood's sampler, the reflection of ``_array_kernels.reflect``), and :func:`vmf_sample_d3` the
  same with the exact sampler of d = 3 (the same draws as the array kernel);
- :func:`reflect_grad` is ``_array_kernels.reflect_grad`` (the reflection's backward);
- :func:`dw_dkappa` is ``_array_kernels.dw_dkappa`` (the implicit-reparameterisation
  quadrature, whose math is documented in :mod:`hvae.sampling`).

Compiled on first use and cached next to this file (``cache=True``). Also here, since the
compiled quadratures take its nodes and weights: :func:`gauss_legendre`, the one Gauss-Legendre
rule of the package (the w-marginal's CDF and Wood's naive-gradient expectation use it too).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

__all__ = [
    "BLOCK",
    "LARGE_KAPPA",
    "TINY_ARGUMENT",
    "QUAD_NODES",
    "QUAD_WINDOW",
    "bad_argument",
    "bessel_terms",
    "dw_dkappa",
    "gauss_legendre",
    "reflect_grad",
    "vmf_sample",
    "use_threads",
    "vmf_sample_d3",
    "wood_sample",
]

#: Gauss-Legendre nodes of the implicit-gradient quadrature: as accurate as 64 or 128 nodes
#: (to 3e-10 relative) from d = 2 to 10^4.
QUAD_NODES = 32
#: Half-width of the quadrature window, in units of the local width of the w-density.
QUAD_WINDOW = 12.0


@lru_cache(maxsize=4)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (cached: computing them costs O(n^2))."""
    return np.polynomial.legendre.leggauss(n)


@numba.njit(cache=True)
def _debye_sums(t, v, a):
    """The Debye sum S = sum_k u_k(t) / v^k (k = 1..12) and t dS/dt, t^2 d^2S/dt^2.

    With u_k(t) = t^k sum_j a[k-1, j] t^(2j), the monomial t^p, p = k + 2j, contributes p and
    p (p - 1) times itself to the two derivatives.
    """
    t2 = t * t
    s = s1 = s2 = 0.0
    tv = 1.0
    for k in range(a.shape[0]):
        tv *= t / v
        p0, p1, p2 = 0.0, 0.0, 0.0
        for j in range(min(k + 1, a.shape[1] - 1), -1, -1):  # Horner in t^2 (u_k+1: k+2 terms)
            p = k + 1 + 2 * j
            p0 = p0 * t2 + a[k, j]
            p1 = p1 * t2 + a[k, j] * p
            p2 = p2 * t2 + a[k, j] * p * (p - 1)
        s += tv * p0
        s1 += tv * p1
        s2 += tv * p2
    return s, s1, s2


@numba.njit(cache=True)
def _x_minus_log1p(y):
    """y - log(1 + y) for 0 <= y < 1, without the cancellation of the direct form: with
    u = y / (2 + y), log(1 + y) = 2 atanh(u), so the difference is
    2u^2/(1 - u) - 2 sum_{k>=1} u^(2k+1)/(2k+1) (u <= 1/3)."""
    u = y / (2 + y)
    u2 = u * u
    term, tail = u, 0.0
    for k in range(1, 20):
        term *= u2
        tail += term / (2 * k + 1)
    return 2 * u2 / (1 - u) - 2 * tail


@numba.njit(cache=True)
def _stirling_tail(v):
    """log Gamma(v + 1) - (v + 1/2) log v + v - log(2 pi)/2 for v >= 14, by Stirling's series
    (8 terms: below 1e-20 there)."""
    r = 1 / v
    r2 = r * r
    return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (
        1 / 1188 - r2 * (691 / 360360 - r2 * (1 / 156 - r2 * 3617 / 122400)))))))


# Below this argument the Bessel terms are their leading terms to rounding (x^2 < 1e-300), and
# the recurrence's 2k/x would overflow for subnormal x.
TINY_ARGUMENT = 1e-150
_LOG_2PI = math.log(2 * math.pi)


@numba.njit(cache=True)
def _bessel_tiny(v, x):
    """The seven Bessel terms for 0 < x < TINY_ARGUMENT: I_v(x) = (x/2)^v / Gamma(v+1) (1 + L)
    with L = x^2 / (4(v+1)), R = x / (2v + 2), R' = 1 / (2v + 2)."""
    rescaled = 0.25 * x * x / (v + 1)
    ratio = x / (2 * v + 2)
    log_i = v * (math.log(x) - math.log(2.0)) - math.lgamma(v + 1) + rescaled
    return log_i, ratio, 1 - ratio, rescaled, x - rescaled, ratio + v / x, 1 / (2 * v + 2)


@numba.njit(cache=True)
def _bessel_one(v, x, a, v0):
    """The seven Bessel terms of :func:`bessel_terms` at one v >= 0, x > 0."""
    if x < TINY_ARGUMENT:
        return _bessel_tiny(v, x)
    steps = max(math.ceil(v0 - v), 0.0)
    top = v + steps
    # Debye at the order `top` (hvae.special's docstring has the algebra of each line)
    s0 = math.hypot(top, x)
    c0 = x / s0
    sum0, tds0, t2dds0 = _debye_sums(top / s0, top, a)
    log_sum0 = math.log1p(sum0)
    log_i = s0 - top * math.asinh(top / x) - 0.5 * (_LOG_2PI + math.log(s0)) + log_sum0
    t = x * (x / (s0 + top))  # s0 - top
    corr = log_sum0 + _stirling_tail(top)
    y = t / (2 * top)
    # t - top log(1 + y): as t/2 + top (y - log1p y) where that cancels (y < 1); otherwise as it
    # is, which also keeps t/2 + top y from rounding past the largest double
    head = 0.5 * t + top * _x_minus_log1p(y) if y < 1 else t - top * math.log1p(y)
    rescaled = head - 0.5 * math.log1p(t / top) + corr
    # V (t + x) / (s0 + x), divided through by x so that nothing overflows at x ~ 1e308
    complement = (top * (x / (s0 + top) + 1) * (c0 / (1 + c0)) + top * math.log1p(t / (2 * top))
                  + 0.5 * math.log1p(t / top) - corr)
    w = top + 1
    s1 = math.hypot(w, x)
    ds = (2 * w - 1) / s0 / (1 + s1 / s0)  # (2w - 1) / (s1 + s0)
    log_r = (ds - math.asinh(w / x) - top * math.log1p((1 + ds) / (top + s0))
             - 0.5 * math.log1p(ds / s0) + math.log1p(_debye_sums(w / s1, w, a)[0]) - log_sum0)
    gap = -math.expm1(log_r)
    ratio = math.exp(log_r)
    # d ratio/dx = d^2 log I_top/dx^2 + top/x^2, each piece positive or small
    tau_d = tds0 / (1 + sum0)
    bracket = (t2dds0 / (1 + sum0) * c0 * c0 - tau_d * (1 - 3 * c0 * c0)
               - (tau_d * c0) ** 2)
    d_ratio = ((top / s0) / (s0 + top) + 0.5 * ((x - top) / s0) * ((x + top) / s0) / s0 / s0
               + bracket / s0 / s0)
    for j in range(int(steps)):  # orders k = top, ..., v + 1: r_k = I_k / I_(k-1)
        k = top - j
        step = math.log1p(x * ratio / (2 * k))
        rescaled += step
        complement -= step
        t = k * (2 / x) - gap
        gap = t / (1 + t)
        ratio = 1 / (1 + t)
        d_ratio = (ratio * (2 * k / x)) * (ratio / x) - ratio * ratio * d_ratio
        log_i += math.log1p(t)
    if x <= math.sqrt(2 * (v + 1)):  # the series of log 0F1(; v+1; x^2/4): exact at small x
        term, total = 1.0, 0.0
        for k in range(16):
            term *= 0.25 * x * x / ((k + 1) * (v + 1 + k))
            total += term
        rescaled = math.log1p(total)
        complement = x - rescaled
    return log_i, ratio, gap, rescaled, complement, ratio + v / x, max(d_ratio, 0.0)


@numba.njit(cache=True)
def bessel_terms(v, x, a, v0):
    """:func:`_bessel_one` over a 1-D array ``x`` (x >= 0) and orders ``v`` (one per entry, or
    one for all: length 1), with the limits at x = 0: seven arrays (log I_v, I_(v+1)/I_v,
    1 - ratio, L, x - L, d log_i/dx, d ratio/dx), separate so that each can become its own
    tensor. The caller checks that x is finite and >= 0 (:func:`bad_argument`)."""
    n = x.shape[0]
    one_order = v.shape[0] == 1
    log_i, ratio, gap = np.empty(n), np.empty(n), np.empty(n)
    rescaled, complement = np.empty(n), np.empty(n)
    d_log_i, d_ratio = np.empty(n), np.empty(n)
    for i in range(n):
        order = v[0] if one_order else v[i]
        if x[i] == 0:  # ratio ~ x / (2v + 2), log I_v ~ v log x
            zero_order = order == 0
            log_i[i] = 0.0 if zero_order else -math.inf
            ratio[i], gap[i], rescaled[i], complement[i] = 0.0, 1.0, 0.0, 0.0
            d_log_i[i] = 0.0 if zero_order else math.inf
            d_ratio[i] = 1 / (2 * order + 2)
        else:
            (log_i[i], ratio[i], gap[i], rescaled[i], complement[i], d_log_i[i],
             d_ratio[i]) = _bessel_one(order, x[i], a, v0)
    return log_i, ratio, gap, rescaled, complement, d_log_i, d_ratio


@numba.njit(cache=True)
def bad_argument(x, strict):
    """The index of the first entry of ``x`` that is not finite and >= 0 (> 0 if ``strict``),
    or -1."""
    for i in range(x.shape[0]):
        if not (0 <= x[i] < math.inf) or (strict and x[i] == 0):  # NaN fails too
            return i
    return -1


# Above this concentration 4 kappa^2 would overflow (at 1.3e154) in the closed forms of Wood's b
# and of the mode of the w-density; there both are written in s = m / (2 kappa), which is exact
# to rounding (s^2 < 1e-290).
LARGE_KAPPA = 1e150


@numba.njit(cache=True)
def _wood_b(k, m):
    r"""Wood's :math:`b = m / (2\kappa + \sqrt{4\kappa^2 + m^2})`, finite for every kappa."""
    if k < LARGE_KAPPA:
        return m / (2 * k + math.sqrt(4 * k * k + m * m))
    s = 0.5 * m / k
    return s / (1 + math.sqrt(1 + s * s))


@numba.njit(cache=True)
def _cos_mode(k, dm2):
    r""":math:`\cos` of the mode of :math:`\kappa\cos\theta + (d-2)\log\sin\theta`,
    :math:`2\kappa / ((d-2) + \sqrt{(d-2)^2 + 4\kappa^2})`, finite for every kappa."""
    if dm2 == 0:  # the circle: the density e^(kappa cos t) peaks at t = 0 for every kappa > 0
        return 1.0
    if k < LARGE_KAPPA:
        return min(2 * k / (dm2 + math.sqrt(dm2 * dm2 + 4 * k * k)), 1.0)
    s = 0.5 * dm2 / k
    return min(1 / (s + math.sqrt(1 + s * s)), 1.0)


@numba.njit(inline="always")
def _wood_constants(k, m):
    """Wood's envelope for one kappa: b, x0 = (1 - b)/(1 + b), 1 - x0 and log(1 + x0)."""
    b = _wood_b(k, m)
    x0 = (1 - b) / (1 + b)
    return b, x0, 2 * b / (1 + b), math.log1p(x0)


@numba.njit(inline="always")
def _wood_constants_at(kappa, i, start, m, previous):
    """:func:`_wood_constants` of row i, reusing ``previous`` (row i - 1's) when kappa repeats
    within a block that starts at ``start``: one kappa for many rows costs one evaluation."""
    if i == start or kappa[i] != kappa[i - 1]:
        return _wood_constants(kappa[i], m)
    return previous


@numba.njit(cache=True)
def _symmetric_beta_draw(d):
    """One Beta((d-1)/2, (d-1)/2) draw from numba's generator: sin^2(pi U / 2) on the circle
    (the arcsine law, one uniform), else the first coordinate of a uniform point of S^(d-1)
    from a normal and a chi-square with d - 1 degrees of freedom (:func:`_beta_from_gaussian`)."""
    if d == 2:
        return math.sin(0.5 * math.pi * np.random.random()) ** 2
    return _beta_from_gaussian(np.random.standard_normal(),
                               math.sqrt(2 * np.random.standard_gamma(0.5 * (d - 1))))


@numba.njit(cache=True)
def _wood_draw(k, d, constants, eps, max_proposals):
    """1 - w of one draw by Wood's sampler, the first proposal ``eps`` (a Beta((d-1)/2,
    (d-1)/2) draw; NaN: none) and the rest and the uniforms from numba's generator: proposal
    1 - w = 2 b eps / (1 - (1 - b) eps), accepted when log u <= kappa (w - x0) + (d - 1)
    log((1 - x0 w)/(1 - x0^2)). NaN after ``max_proposals`` rejections."""
    b, x0, one_minus_x0, log1p_x0 = constants
    m = d - 1
    for p in range(max_proposals):
        if p > 0 or math.isnan(eps):
            eps = _symmetric_beta_draw(d)
        omw = 2 * b * eps / (1 - (1 - b) * eps)
        log_accept = k * (one_minus_x0 - omw) + m * (math.log1p(x0 * omw / one_minus_x0)
                                                    - log1p_x0)
        if math.log(1.0 - np.random.random()) <= log_accept:  # u in (0, 1]
            return omw
    return math.nan


#: Rows per block of the samplers: each block draws from numba's generator seeded with the
#: call's seed plus the block's index, so that blocks run in parallel (numba's threads) and the
#: draws still depend on the seed alone, not on the number of threads.
BLOCK = 2048


@numba.njit(parallel=True, cache=True)
def _parallel_noop():
    total = 0
    for i in numba.prange(1):
        total += i
    return total


@lru_cache(maxsize=1)
def _start_pool() -> None:
    _parallel_noop()


def use_threads(n: int) -> None:
    """Run numba's parallel loops on ``n`` threads (at most numba's pool): the callers pass
    torch's intra-op thread count, so that ``torch.set_num_threads`` governs both.

    The first call starts numba's pool. With the OpenMP layer, which torch shares, starting it
    sets the process's OpenMP thread count to numba's default; the caller then puts torch's
    back (``hvae.ops._use_torch_threads``)."""
    _start_pool()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


@numba.njit(inline="always")
def _block_seed(seed, block):
    np.random.seed((seed + block) % 4294967296)
    return block * BLOCK


@numba.njit(parallel=True, cache=True)
def wood_sample(kappa, d, seed, max_proposals):
    """1 - w of one draw per entry of ``kappa`` by Wood's sampler (:func:`_wood_draw`), numba's
    generator seeded per :data:`BLOCK` from ``seed`` (deterministic, whatever the number of
    threads; the generator is per thread). An entry that rejected ``max_proposals`` proposals
    is NaN."""
    n = kappa.shape[0]
    out = np.empty(n)
    for block in numba.prange((n + BLOCK - 1) // BLOCK):
        start = _block_seed(seed, block)
        constants = (0.0, 0.0, 0.0, 0.0)
        for i in range(start, min(n, start + BLOCK)):
            constants = _wood_constants_at(kappa, i, start, d - 1, constants)
            out[i] = _wood_draw(kappa[i], d, constants, math.nan, max_proposals)
    return out


@numba.njit(cache=True)
def _dw_dkappa_one(omw, kappa, mean_w, d, window, nodes, weights):
    omw = max(omw, 1e-300)
    theta_w = 2 * math.asin(min(math.sqrt(0.5 * omw), 1.0))
    sin_w2 = omw * (2 - omw)
    cos_mode = _cos_mode(kappa, d - 2.0)
    sin2_mode = (1 - cos_mode) * (1 + cos_mode)
    curvature = kappa * cos_mode + ((d - 2) / sin2_mode if sin2_mode > 0 else 0.0)
    width = window / math.sqrt(max(curvature, 1e-300))
    towards_pole = theta_w <= math.acos(cos_mode)
    side = theta_w if towards_pole else math.pi - theta_w
    length = side if width >= 0.5 * side else width
    sign = -1.0 if towards_pole else 1.0
    half_step = 0.25 * sign * length
    log_sin_w2 = math.log(0.25 * sin_w2) if d > 2 else 0.0
    total = 0.0
    for j in range(nodes.shape[0]):
        s = math.sin(0.5 * theta_w + half_step * (nodes[j] + 1)) ** 2
        log_ratio = -2 * kappa * s + kappa * omw
        if d > 2:
            log_ratio += 0.5 * (d - 2) * (math.log(s * (1 - s)) - log_sin_w2)
        total += weights[j] * math.exp(log_ratio) * ((1 - mean_w) - 2 * s)
    return -0.5 * sign * length * math.sqrt(sin_w2) * total


@numba.njit(cache=True)
def dw_dkappa(omw, kappa, mean_w, d, window, nodes, weights):
    """dw/dkappa at each draw: 1-D float64 arrays of one length; ``d`` the ambient dimension."""
    out = np.empty(omw.shape[0])
    for i in range(omw.shape[0]):
        out[i] = _dw_dkappa_one(omw[i], kappa[i], mean_w[i], d, window, nodes, weights)
    return out


@numba.njit(inline="always")
def _beta_from_gaussian(first, rest):
    """(1 + t)/2, t = first/hypot(first, rest), without cancellation (see hvae.sampling)."""
    r = math.hypot(first, rest)
    if first >= 0:
        return (r + first) / (2 * r)
    return rest**2 / (2 * r * (r - first))


@numba.njit(inline="always")
def _row_dot_compensated(a, i, b, k, start):
    """sum_{j >= start} a[i, j] b[k, j] in float64 with Neumaier's compensation: a plain
    loop's error grows like d eps, and at d = 10^4 that exceeds float64's tolerance for a
    draw's norm. (Rows indexed in place: slicing a view per row costs more than the sum.)"""
    total = 0.0
    carry = 0.0
    for j in range(start, a.shape[1]):
        term = np.float64(a[i, j]) * np.float64(b[k, j])
        t = total + term
        if abs(total) >= abs(term):
            carry += (total - t) + term
        else:
            carry += (term - t) + total
        total = t
    return total + carry


@numba.njit(fastmath={"reassoc", "contract"}, cache=True)
def _row_dot_fast(a, i, b, k, start):
    """sum_{j >= start} a[i, j] b[k, j] in float64, vectorised (reassociated): for float32
    rows, whose own rounding (6e-8) dwarfs the sum's."""
    total = 0.0
    for j in range(start, a.shape[1]):
        total += np.float64(a[i, j]) * np.float64(b[k, j])
    return total


@numba.njit(inline="always")
def _row_dot(a, i, b, k, start, compensated):
    if compensated:
        return _row_dot_compensated(a, i, b, k, start)
    return _row_dot_fast(a, i, b, k, start)


@numba.njit(inline="always")
def _reflect_row(loc, g, i, rest_norm, q, compensated):
    """z = H(mu) y with y = (s(1-q), sqrt(q(2-q)) g_rest/|g_rest|), q = 1 - w, written into row
    i of ``g`` (float32 or float64, like the unit ``loc``): each element computed in float64 and
    rounded once; s = +1 where mu_1 < 0, else -1, u = s e1 - mu, |u|^2 = 2 + 2|mu_1|
    (``_array_kernels.reflect``)."""
    d = g.shape[1]
    mu0 = np.float64(loc[i, 0])
    pole = 1.0 if mu0 < 0 else -1.0
    y0 = pole * (1 - q)
    scale = math.sqrt(q * (2 - q)) / rest_norm
    # z = y - (2 <y, u> / |u|^2) u = y + coef (mu - s e1), <y, u> = s y0 - <y, mu>
    y_dot_mu = y0 * mu0 + scale * _row_dot(g, i, loc, i, 1, compensated)
    coef = 2 * (y0 * pole - y_dot_mu) / (2 + 2 * abs(mu0))
    for j in range(1, d):
        g[i, j] = np.float64(g[i, j]) * scale + coef * np.float64(loc[i, j])
    g[i, 0] = y0 + coef * (mu0 - pole)


@numba.njit(parallel=True, cache=True)
def vmf_sample(loc, g, kappa, seed, compensated, max_proposals):
    """One vMF draw per row in one pass, written into the Gaussian block ``g`` (n, d): the first
    Wood proposal from the row's first coordinate and the norm of the rest
    (``_array_kernels.beta_from_gaussian``), the later ones and the uniforms from numba's
    generator seeded per :data:`BLOCK` from ``seed`` (:func:`_wood_draw`), then the reflection
    (:func:`_reflect_row`). Returns 1 - w (n,; NaN where an entry rejected ``max_proposals``
    proposals, its row then left unreflected)."""
    n, d = g.shape
    omw = np.empty(n)
    for block in numba.prange((n + BLOCK - 1) // BLOCK):
        start = _block_seed(seed, block)
        constants = (0.0, 0.0, 0.0, 0.0)
        for i in range(start, min(n, start + BLOCK)):
            constants = _wood_constants_at(kappa, i, start, d - 1, constants)
            rest_norm = math.sqrt(_row_dot(g, i, g, i, 1, compensated))
            first = _beta_from_gaussian(np.float64(g[i, 0]), rest_norm)
            omw[i] = _wood_draw(kappa[i], d, constants, first, max_proposals)
            if not math.isnan(omw[i]):
                _reflect_row(loc, g, i, rest_norm, omw[i], compensated)
    return omw


@numba.njit(parallel=True, cache=True)
def vmf_sample_d3(loc, g, kappa, u, compensated):
    """One draw of the vMF on S^2 per row in one pass, written into the Gaussian block ``g``
    (n, 3), with 1 - w = -log1p(u expm1(-2 kappa)) / kappa by the exact inverse CDF from the
    uniforms ``u`` (``_array_kernels.exact_one_minus_w_d3``, whose expansion below
    TINY_ARGUMENT this shares), then the reflection. Returns 1 - w (n,)."""
    n = g.shape[0]
    omw = np.empty(n)
    for block in numba.prange((n + BLOCK - 1) // BLOCK):
        for i in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            k, v = kappa[i], u[i]
            if k < TINY_ARGUMENT:
                omw[i] = 2 * v - 2 * k * v * (1 - v)
            else:
                omw[i] = -math.log1p(v * math.expm1(-2 * k)) / k
            rest_norm = math.sqrt(_row_dot(g, i, g, i, 1, compensated))
            _reflect_row(loc, g, i, rest_norm, omw[i], compensated)
    return omw


@numba.njit(cache=True)
def reflect_grad(grad_z, loc, z, omw):
    """The reflection's part of :func:`hvae.ops.vmf_rsample`'s backward, one pass per row in
    float64: ``grad_loc`` (n, d, of ``loc``'s dtype) and dL/d(1-w)
    (n,), for upstream ``grad_z`` at draws ``z = H(mu) y`` (the formulas of
    ``_array_kernels.reflect_grad``)."""
    n, d = z.shape
    grad_loc = np.empty_like(loc)
    d_omw = np.empty(n)
    for i in range(n):
        mu0 = np.float64(loc[i, 0])
        pole = 1.0 if mu0 < 0 else -1.0
        norm2 = 2 + 2 * abs(mu0)
        # <v, u> = s v_0 - <v, mu> for u = s e1 - mu
        z_u = pole * np.float64(z[i, 0]) - _row_dot(z, i, loc, i, 0, False)
        g_u = pole * np.float64(grad_z[i, 0]) - _row_dot(grad_z, i, loc, i, 0, False)
        a = 2 * z_u / norm2  # y = z - a u (H is an involution)
        b = 2 * g_u / norm2  # dL/dy = G - b u
        y0 = np.float64(z[i, 0]) - a * (pole - mu0)
        y_u = pole * y0
        rest = 0.0  # sum_{j >= 1} (dL/dy)_j y_j
        for j in range(1, d):
            mu_j = np.float64(loc[i, j])
            y_u -= (np.float64(z[i, j]) + a * mu_j) * mu_j
        for j in range(1, d):
            mu_j = np.float64(loc[i, j])
            rest += (np.float64(grad_z[i, j]) + b * mu_j) * (np.float64(z[i, j]) + a * mu_j)
        y_u -= y0 * mu0
        c = 2 * y_u / norm2
        for j in range(1, d):
            y_j = np.float64(z[i, j]) + a * np.float64(loc[i, j])
            grad_loc[i, j] = c * np.float64(grad_z[i, j]) + b * y_j
        grad_loc[i, 0] = c * np.float64(grad_z[i, 0]) + b * y0 - pole * b * c
        q = omw[i]
        grad_y0 = np.float64(grad_z[i, 0]) - b * (pole - mu0)
        d_omw[i] = -pole * grad_y0 + (rest * (1 - q) / (q * (2 - q)) if q > 0 else 0.0)
    return grad_loc, d_omw
