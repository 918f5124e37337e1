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

from hvae import _kernels

__all__ = [
    "DEBYE_MIN_ORDER",
    "DEBYE_TERMS",
    "MAX_ROUNDS",
    "MIN_ACCEPTANCE",
    "RETRY_CHANCE",
    "TINY_ARGUMENT",
    "bessel_terms",
    "beta_from_gaussian",
    "debye_coefficients",
    "dw_dkappa",
    "exact_one_minus_w_d3",
    "pole_and_axis",
    "proposals_up_front",
    "reflect",
    "reflect_grad",
    "symmetric_beta",
    "symmetric_normal_gamma",
    "wood_envelope",
    "wood_one_minus_w",
]

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
    """y - log(1 + y) for 0 <= y < 1 without cancellation: with u = y / (2 + y), log(1 + y) =
    2 atanh(u), so it is 2u^2/(1 - u) - 2 sum_{k>=1} u^(2k+1)/(2k+1), u <= 1/3. (Entries with
    y >= 1, discarded by the caller's where, are clamped so that nothing overflows.)"""
    u = y.clamp_max(1.0) / (2 + y.clamp_max(1.0))
    u2 = u * u
    tail, term = torch.zeros_like(u), u
    for k in range(1, 20):
        term = term * u2
        tail = tail + term / (2 * k + 1)
    return 2 * u2 / (1 - u) - 2 * tail


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


# --- the vMF sampler -------------------------------------------------------------------------

#: Rounds of Wood's sampler after which it gives up (the acceptance probability is >= 0.658).
MAX_ROUNDS = 10_000


def wood_envelope(kappa: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Wood's (1994) envelope parameters :math:`(b, x_0, c)` for the vMF on :math:`S^{d-1}`
    (d ambient), :math:`m = d - 1`:

    .. math::
       b &= \frac{m}{2\kappa + \sqrt{4\kappa^2 + m^2}}
          = \frac{\sqrt{4\kappa^2+m^2} - 2\kappa}{m}, \\
       x_0 &= \frac{1-b}{1+b},\quad c = \kappa x_0 + m\log(1 - x_0^2).

    Differentiable in ``kappa`` (a float64 tensor).
    """
    m = d - 1
    # the closed form overflows (4 kappa^2) past 1.3e154: there, with s = m / (2 kappa),
    # b = s / (1 + sqrt(1 + s^2)), exact to rounding (as hvae._kernels._wood_b)
    large = kappa >= _kernels.LARGE_KAPPA
    k_small = torch.where(large, 1.0, kappa)
    s = 0.5 * m / torch.where(large, kappa, 1.0)
    b = torch.where(large, s / (1 + torch.sqrt(1 + s * s)),
                    m / (2 * k_small + torch.sqrt(4 * k_small * k_small + m * m)))
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + m * torch.log(4 * b / (1 + b) ** 2)  # 1 - x0^2 = 4b / (1+b)^2
    return b, x0, c


def beta_from_gaussian(first: torch.Tensor, rest_norm: torch.Tensor) -> torch.Tensor:
    r"""(1 + t)/2 for t = g_1/|g|, g standard Gaussian in R^d: a Beta((d-1)/2, (d-1)/2) draw.

    The first coordinate t of a uniform point of :math:`S^{d-1}` has density
    :math:`\propto (1-t^2)^{(d-3)/2}`, and it is independent of the direction of the other
    coordinates. Written so that nothing cancels when t is near -1 (``first = g_1``,
    ``rest_norm`` = :math:`|g_{2:d}|`).
    """
    r = torch.hypot(first, rest_norm)
    return torch.where(first >= 0, (r + first) / (2 * r), rest_norm**2 / (2 * r * (r - first)))


def symmetric_normal_gamma(shape: tuple, d: int, device, generator=None):
    r"""The random numbers of ``shape`` Beta((d-1)/2, (d-1)/2) draws: standard normals Z and
    Gamma((d-1)/2) variates G, with :math:`(1 + Z/\sqrt{Z^2 + 2G})/2` the Beta draw (the first
    coordinate of a uniform point of :math:`S^{d-1}`, :math:`2G \sim \chi^2_{d-1}`)."""
    z = torch.randn(shape, dtype=torch.float64, device=device, generator=generator)
    alpha = torch.full(shape, 0.5 * (d - 1), dtype=torch.float64, device=device)
    return z, torch._standard_gamma(alpha, generator=generator)


def symmetric_beta(shape: tuple, d: int, device, generator=None) -> torch.Tensor:
    """Beta((d-1)/2, (d-1)/2) draws (float64) from :func:`symmetric_normal_gamma`."""
    z, gamma = symmetric_normal_gamma(shape, d, device, generator)
    return beta_from_gaussian(z, torch.sqrt(2 * gamma))


#: Below Wood's acceptance probability for every d and kappa (its minimum over chapter 3's
#: range is 0.6577, at d = 2 as kappa grows); a lower true value would only cost retries.
MIN_ACCEPTANCE = 0.65
#: The chance per call that some entry rejects all of its first proposals.
RETRY_CHANCE = 1e-3


def proposals_up_front(n: int) -> int:
    """Proposals per entry in the first (and usually only) round of the array sampler: the
    fewest K with n (1 - MIN_ACCEPTANCE)^K <= RETRY_CHANCE (7 for one entry, 11 for 64, 16
    for 10^4)."""
    return max(1, math.ceil(math.log(RETRY_CHANCE / max(n, 1)) / math.log(1 - MIN_ACCEPTANCE)))


def wood_one_minus_w(kappa: torch.Tensor, d: int, first_eps: torch.Tensor,
                     generator=None) -> torch.Tensor:
    r"""1 - w by Wood's rejection sampler for 1-D float64 ``kappa``, first proposals
    ``first_eps`` (Beta((d-1)/2, (d-1)/2), one per entry): proposal
    :math:`1 - w = 2b\varepsilon / (1 - (1-b)\varepsilon)`, accepted when
    :math:`\log u \le \kappa(w - x_0) + (d-1)\log\frac{1 - x_0 w}{1 - x_0^2}`; each entry
    keeps its first accepted proposal.

    Shaped for a GPU: every entry gets :func:`proposals_up_front` proposals at once, so that
    one round almost always finishes the batch (all with probability >= 1 - RETRY_CHANCE); the
    rare entries that rejected all of them are redrawn by masked rounds over the whole batch.
    No shape depends on the data, and the only host synchronisation is one test per round of
    whether every entry is done. (The CPU kernel draws one proposal per entry and retries
    only the rejected ones: the same law, other random numbers.)
    """
    m = d - 1
    n = kappa.shape[0]
    b, x0, _ = wood_envelope(kappa, d)
    k, b, x0 = kappa[:, None], b[:, None], x0[:, None]
    one_minus_x0, log1p_x0 = 2 * b / (1 + b), torch.log1p(x0)
    rows = torch.arange(n, device=kappa.device)

    def round_of(eps):
        omw = 2 * b * eps / (1 - (1 - b) * eps)
        log_accept = k * (one_minus_x0 - omw) + m * (torch.log1p(x0 * omw / one_minus_x0)
                                                    - log1p_x0)
        u = torch.rand(eps.shape, dtype=torch.float64, device=kappa.device, generator=generator)
        accepted = torch.log(u) <= log_accept
        return omw[rows, (accepted * 1).argmax(-1)], accepted.any(-1)

    per_entry = proposals_up_front(n)
    extra = symmetric_beta((n, per_entry - 1), d, kappa.device, generator)
    out, done = round_of(torch.cat([first_eps[:, None], extra], -1))
    for _ in range(MAX_ROUNDS):
        if bool(done.all()):
            return out
        omw, accepted = round_of(symmetric_beta((n, per_entry), d, kappa.device, generator))
        out = torch.where(done, out, omw)
        done = done | accepted
    raise RuntimeError(f"Wood's sampler did not finish in {MAX_ROUNDS} rounds")


def exact_one_minus_w_d3(kappa: torch.Tensor, generator=None) -> torch.Tensor:
    r"""1 - w for d = 3 by inverting the CDF exactly (differentiable in ``kappa``).

    For d = 3 the marginal is :math:`\kappa e^{\kappa w} / (2\sinh\kappa)`, whose inverse CDF is
    :math:`w = 1 + \log(u + (1-u)e^{-2\kappa})/\kappa`. Written with :math:`u' = 1 - u`,
    :math:`1 - w = -\operatorname{log1p}(u' \operatorname{expm1}(-2\kappa)) / \kappa`, which is
    accurate for :math:`\kappa` from 1e-8 to 1e8.
    Below TINY_ARGUMENT, where ``u expm1(-2 kappa)`` would underflow (to w = 1 at
    :math:`\kappa = 5\cdot 10^{-324}`), its expansion :math:`2u' - 2\kappa u'(1 - u')`.
    """
    u = torch.rand(kappa.shape, dtype=kappa.dtype, device=kappa.device, generator=generator)
    tiny = kappa < TINY_ARGUMENT
    k = torch.where(tiny, 1.0, kappa)
    return torch.where(tiny, 2 * u - 2 * kappa * u * (1 - u),
                       -torch.log1p(u * torch.expm1(-2 * k)) / k)


def pole_and_axis(loc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """s (batch + (1,)), u = s e1 - loc and |u|^2 = 2 + 2|loc_1| for the reflection."""
    pole = torch.where(loc[..., :1] < 0, 1.0, -1.0).to(loc.dtype)
    u = torch.cat([pole - loc[..., :1], -loc[..., 1:]], -1)
    return pole, u, 2 + 2 * loc[..., :1].abs()


def reflect(loc: torch.Tensor, g: torch.Tensor, rest_norm: torch.Tensor,
            omw: torch.Tensor) -> torch.Tensor:
    """z = H y with y = (s w, sqrt(1-w^2) g_rest/|g_rest|), in differentiable operations (the
    grid sampler's gradient flows through it)."""
    pole, u, u_norm2 = pole_and_axis(loc)
    scale = (torch.sqrt(omw * (2 - omw)) / rest_norm).to(loc.dtype).unsqueeze(-1)
    y = torch.cat([pole * (1 - omw).to(loc.dtype).unsqueeze(-1), g[..., 1:] * scale], -1)
    return y - (2 * (y * u).sum(-1, keepdim=True) / u_norm2) * u


def reflect_grad(grad_z: torch.Tensor, loc: torch.Tensor, z: torch.Tensor, omw: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The backward of :func:`reflect` at draws ``z = H(mu) y``: ``(grad_loc, d_omw)``, the
    gradients with respect to the unit ``loc`` (n, d) and to ``omw`` = 1 - w (n,, float64),
    for upstream ``grad_z`` :math:`G`. With :math:`u = s e_1 - \mu`, :math:`n = \|u\|^2`,
    :math:`c = 2\langle u, y\rangle / n` and :math:`b = 2\langle G, u\rangle / n`:
    :math:`\partial L/\partial y = G - b u`, :math:`\partial L/\partial\mu = c G + b y - s b c
    e_1`, and through :math:`y = (s(1-q), \sqrt{q(2-q)}\, g/|g|)`,
    :math:`\partial L/\partial q = -s (\partial L/\partial y)_1 + \frac{1-q}{q(2-q)}
    \sum_{j\ge2} (\partial L/\partial y)_j y_j`."""
    pole, u, u_norm2 = pole_and_axis(loc)
    y = z - (2 * (z * u).sum(-1, keepdim=True) / u_norm2) * u  # H is an involution
    coef = 2 * (u * y).sum(-1, keepdim=True) / u_norm2
    g_dot_u = 2 * (grad_z * u).sum(-1, keepdim=True) / u_norm2
    grad_loc = coef * grad_z + g_dot_u * y
    grad_loc = torch.cat([grad_loc[:, :1] - pole * g_dot_u * coef, grad_loc[:, 1:]], -1)
    grad_y = grad_z - g_dot_u * u
    rest = (grad_y[:, 1:] * y[:, 1:]).sum(-1).to(torch.float64)
    d_omw = (-(pole * grad_y[:, :1]).squeeze(-1).to(torch.float64)
             + torch.where(omw > 0, rest * (1 - omw) / (omw * (2 - omw)), 0.0))
    return grad_loc, d_omw


def dw_dkappa(omw: torch.Tensor, kappa: torch.Tensor, mean_w: torch.Tensor, d: int
              ) -> torch.Tensor:
    """dw/dkappa at the draws by implicit reparameterisation (float64, one shape): the
    Gauss-Legendre quadrature documented in :mod:`hvae.sampling`, as
    :func:`hvae._kernels.dw_dkappa` computes it in a loop."""
    omw = omw.clamp_min(1e-300)
    theta_w = 2 * torch.arcsin(torch.sqrt(0.5 * omw).clamp_max(1.0))
    sin_w2 = omw * (2 - omw)
    # mode of exp(l(theta)) and the local width there (1 / sqrt(-l''))
    # (past LARGE_KAPPA, 4 kappa^2 would overflow: the same ratio in s = (d - 2) / (2 kappa))
    large = kappa >= _kernels.LARGE_KAPPA
    k_small, k_large = torch.where(large, 1.0, kappa), torch.where(large, kappa, 1.0)
    s = 0.5 * (d - 2) / k_large
    if d == 2:  # the circle: the mode is theta = 0 for every kappa
        cos_mode = torch.ones_like(kappa)
    else:
        cos_mode = torch.where(large, 1 / (s + torch.sqrt(1 + s * s)), 2 * k_small / (
            (d - 2) + torch.sqrt((d - 2) ** 2 + 4 * k_small * k_small))).clamp_max(1.0)
    sin2_mode = (1 - cos_mode) * (1 + cos_mode)
    curvature = kappa * cos_mode + (d - 2) / torch.where(sin2_mode > 0, sin2_mode, math.inf)
    width = _kernels.QUAD_WINDOW / torch.sqrt(curvature.clamp_min(1e-300))
    towards_pole = theta_w <= torch.arccos(cos_mode)  # integrate over [theta_w - L, theta_w]
    # the window is measured at the mode; where it reaches most of the way to the end of the
    # side (flat tails, e.g. d = 3 near theta = pi) take the whole side instead
    side = torch.where(towards_pole, theta_w, math.pi - theta_w)
    length = torch.where(width >= 0.5 * side, side, width)
    # step direction along theta: -1 towards the pole ([theta_w - L, theta_w], counted
    # positive), +1 away from it ([theta_w, theta_w + L], counted negative)
    sign = 1 - 2 * towards_pole.to(torch.float64)
    nodes, weights = (torch.as_tensor(a, device=omw.device)
                      for a in _kernels.gauss_legendre(_kernels.QUAD_NODES))
    # integrand at theta = theta_w - sign L (x + 1)/2, x the nodes on [-1, 1], in terms of
    # s = sin^2(theta/2): cos(theta) - A = (1 - A) - 2 s and l(theta) - l(theta_w) =
    # -2 kappa s + kappa (1 - w) + (d-2)/2 [log(s (1 - s)) - log(sin^2(theta_w) / 4)]
    half_step = (0.25 * sign) * length
    s = torch.sin(0.5 * theta_w[..., None] + half_step[..., None] * (nodes + 1)) ** 2
    log_ratio = (-2 * kappa)[..., None] * s + (kappa * omw)[..., None]
    if d > 2:
        log_ratio = log_ratio + (0.5 * (d - 2)) * (
            torch.log(s * (1 - s)) - torch.log(0.25 * sin_w2)[..., None])
    integral = (torch.exp(log_ratio) * ((1 - mean_w)[..., None] - 2 * s)) @ weights
    return (-0.5 * sign * length) * torch.sqrt(sin_w2) * integral
