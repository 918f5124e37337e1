r"""Sampling the von Mises-Fisher distribution on :math:`S^{d-1} \subset \mathbb{R}^d`.

A draw is built in two parts (Wood, 1994):

1. the *marginal* :math:`w = \langle \mu, z\rangle \in [-1, 1]`, whose density is
   :math:`f(w) \propto e^{\kappa w} (1 - w^2)^{(d-3)/2}`;
2. a *tangent direction* :math:`v`, uniform on the unit sphere of the hyperplane orthogonal
   to :math:`\mu`, so that :math:`z = w\mu + \sqrt{1-w^2}\, v`.

Everything about the marginal is carried as ``omw`` :math:`= 1 - w` in float64: near the pole
(:math:`\kappa \gg d`) :math:`1 - w \approx (d-1)/(2\kappa)` would be lost to rounding if it were
recovered from :math:`w`.

Gradients. A rejection sampler is not differentiable as written. :func:`attach_implicit_gradient`
gives ``omw`` the exact pathwise derivative of implicit reparameterisation (Figurnov et al.,
2018): with :math:`F` the CDF of :math:`w`, holding :math:`F(w;\kappa) = u` fixed gives
:math:`\partial w / \partial\kappa = -\partial_\kappa F / f`. Since
:math:`\partial_\kappa f = (w - A_d(\kappa)) f`, this is, with :math:`t = \cos\theta`,

.. math::
   \frac{\partial w}{\partial \kappa}
   = \frac{1}{g(w)}\int_w^1 (t - A_d)\, g(t)\, dt
   = \sin\theta_w \int_0^{\theta_w} (\cos\theta - A_d)\,
     e^{\ell(\theta) - \ell(\theta_w)}\, d\theta,
   \qquad \ell(\theta) = \kappa\cos\theta + (d-2)\log\sin\theta,

with :math:`g(t) = e^{\kappa t}(1-t^2)^{(d-3)/2}` unnormalised; no normalising constant is
needed. The integrand is smooth in :math:`\theta` for every :math:`d \ge 2`. Because
:math:`\int_0^\pi (\cos\theta - A_d) e^{\ell} d\theta = 0`, the integral over :math:`[0,\theta_w]`
equals minus the one over :math:`[\theta_w, \pi]`; we integrate over the side away from the mode,
where the integrand decays monotonically from :math:`\theta_w`, by Gauss-Legendre quadrature on
a window of 12 local widths. This is unbiased for any differentiable function of the sample
(unlike dropping the rejection sampler's correction term, which biases the gradient).

Also here: Wood's envelope parameters (:func:`wood_envelope`, which the sampler uses; the rest
of the analysis of the envelope is in :mod:`hvae.wood`) and :func:`tangent_projection`, the
Householder-free way to put :math:`w` on the sphere. ``d`` is the *ambient* dimension
throughout.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from hvae import _kernels
from hvae._validation import check_choice, fail
from hvae.special import bessel_terms

__all__ = [
    "METHODS",
    "GridResolutionWarning",
    "attach_implicit_gradient",
    "grid_cdf",
    "inverse_cdf_max_kappa",
    "sample_one_minus_w",
    "sample_uniform_sphere",
    "sample_vmf",
    "tangent_projection",
    "wood_envelope",
]

#: The ways to draw w: ``"auto"`` (exact for d = 3, rejection otherwise), ``"rejection"``
#: (Wood 1994), ``"exact"`` (inverse CDF, d = 3 only), ``"inverse_cdf"`` (a grid; approximate,
#: accurate only up to :func:`inverse_cdf_max_kappa`).
METHODS = ("auto", "rejection", "exact", "inverse_cdf")
_MAX_ROUNDS = 10_000
# cells of the inverse-CDF grid per standard deviation of w below which it is inaccurate
_CELLS_PER_SD = 8


class GridResolutionWarning(UserWarning):
    """``method="inverse_cdf"`` was asked for a kappa its grid does not resolve."""


def _beta_from_gaussian(first: torch.Tensor, rest_norm: torch.Tensor) -> torch.Tensor:
    r"""(1 + t)/2 for t = g_1/|g|, g standard Gaussian in R^d: a Beta((d-1)/2, (d-1)/2) draw.

    The first coordinate t of a uniform point of :math:`S^{d-1}` has density
    :math:`\propto (1-t^2)^{(d-3)/2}`, and it is independent of the direction of the other
    coordinates. Written so that nothing cancels when t is near -1 (``first = g_1``,
    ``rest_norm`` = :math:`|g_{2:d}|`). On the CPU, :func:`hvae._kernels.split_gaussian` and
    :func:`hvae._kernels.symmetric_beta` compute the same.
    """
    r = torch.hypot(first, rest_norm)
    return torch.where(first >= 0, (r + first) / (2 * r), rest_norm**2 / (2 * r * (r - first)))


def _symmetric_beta(shape: tuple, d: int, device, generator=None) -> torch.Tensor:
    r"""Beta((d-1)/2, (d-1)/2) draws (float64) as :math:`(1 + Z/\sqrt{Z^2 + V})/2`.

    :math:`Z` standard normal and :math:`V = 2\,\mathrm{Gamma}(\frac{d-1}{2}) \sim \chi^2_{d-1}`:
    the first coordinate of a uniform point of :math:`S^{d-1}` (see
    :func:`_beta_from_gaussian`), one Gamma draw per variate instead of two.
    """
    z = torch.randn(shape, dtype=torch.float64, device=device, generator=generator)
    alpha = torch.full(shape, 0.5 * (d - 1), dtype=torch.float64, device=device)
    gamma = torch._standard_gamma(alpha, generator=generator)
    if z.device.type == "cpu":  # small arrays: a compiled loop beats a dozen operator calls
        return torch.from_numpy(_kernels.symmetric_beta(z.numpy(), gamma.numpy()))
    return _beta_from_gaussian(z, torch.sqrt(2 * gamma))


def wood_envelope(kappa: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Wood's (1994) envelope parameters :math:`(b, x_0, c)` for the vMF on :math:`S^{d-1}`
    (d ambient), :math:`m = d - 1`:

    .. math:: b = \frac{m}{2\kappa + \sqrt{4\kappa^2 + m^2}}
                = \frac{\sqrt{4\kappa^2+m^2} - 2\kappa}{m},\quad
              x_0 = \frac{1-b}{1+b},\quad c = \kappa x_0 + m\log(1 - x_0^2).

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


def _wood_one_minus_w(kappa: torch.Tensor, d: int, first_eps: torch.Tensor | None = None,
                      generator=None) -> torch.Tensor:
    r"""1 - w by Wood's (1994) rejection sampler, vectorised over ``kappa`` (float64).

    Proposal: :math:`\varepsilon \sim \mathrm{Beta}(\frac{d-1}{2}, \frac{d-1}{2})`,
    :math:`w = \frac{1 - (1+b)\varepsilon}{1 - (1-b)\varepsilon}`, so
    :math:`1 - w = \frac{2b\varepsilon}{1 - (1-b)\varepsilon}`, with the envelope parameter in its
    cancellation-free form :math:`b = (d-1) / (2\kappa + \sqrt{4\kappa^2 + (d-1)^2})`.
    Accept when :math:`\log u \le \kappa (w - x_0) + (d-1)\log\frac{1 - x_0 w}{1 - x_0^2}`,
    :math:`x_0 = \frac{1-b}{1+b}` (:func:`wood_envelope`; on the CPU the compiled
    :func:`hvae._kernels.wood_round` evaluates the same formulas).

    ``first_eps`` (optional, same shape as ``kappa``) are the first round's Beta draws. Later
    rounds draw several proposals for each still-rejected entry and keep the first accepted (the
    acceptance probability is at least 0.65), so that even 10^6 draws need only a few rounds.
    """
    if kappa.device.type == "cpu":
        return _wood_cpu(kappa, d, first_eps, generator)
    return _wood_torch(kappa, d, first_eps, generator)


def _wood_cpu(kappa: torch.Tensor, d: int, first_eps: torch.Tensor | None,
              generator=None) -> torch.Tensor:
    """Wood's rounds as compiled loops (:func:`hvae._kernels.wood_round`), the random numbers
    drawn by torch in the order and shapes of :func:`_wood_torch`, so both give the same draws."""
    flat = np.ascontiguousarray(kappa.reshape(-1).numpy(), dtype=np.float64)
    if first_eps is None:
        first_eps = _symmetric_beta(flat.shape, d, kappa.device, generator)
    eps = np.ascontiguousarray(first_eps.reshape(-1, 1).numpy(), dtype=np.float64)
    out = np.empty_like(flat)
    pending = np.arange(flat.shape[0])
    for _ in range(_MAX_ROUNDS):
        u = torch.rand(eps.shape, dtype=torch.float64, generator=generator).numpy()
        pending = _kernels.wood_round(flat, d, pending, eps, u, out)
        if pending.shape[0] == 0:
            return torch.from_numpy(out).reshape(kappa.shape)
        eps = _symmetric_beta((pending.shape[0], _per_entry(pending.shape[0])), d,
                              kappa.device, generator).numpy()
    raise RuntimeError(f"Wood's sampler did not finish in {_MAX_ROUNDS} rounds")


def _per_entry(pending: int) -> int:
    """Proposals per still-rejected entry in the rounds after the first: few pending entries
    make a round cost more than its proposals, so draw more of them."""
    return 2 if pending >= 1024 else 4


def _wood_torch(kappa: torch.Tensor, d: int, first_eps: torch.Tensor | None,
                generator=None) -> torch.Tensor:
    """Wood's rounds vectorised in torch (any device)."""
    m = d - 1

    def proposals(params, eps):
        """1 - w of the proposals ``eps`` and whether each is accepted."""
        k, b, x0, one_minus_x0, log1p_x0 = params
        omw = 2 * b * eps / (1 - (1 - b) * eps)
        log_accept = k * (one_minus_x0 - omw) + m * (torch.log1p(x0 * omw / one_minus_x0)
                                                    - log1p_x0)
        u = torch.rand(tuple(eps.shape), dtype=torch.float64, device=kappa.device,
                       generator=generator)
        return omw, torch.log(u) <= log_accept

    flat = kappa.reshape(-1).contiguous()
    b, x0, _ = wood_envelope(flat, d)
    params = (flat, b, x0, 2 * b / (1 + b), torch.log1p(x0))
    if first_eps is None:
        first_eps = _symmetric_beta(flat.shape, d, kappa.device, generator)
    # first round: one proposal per entry, written everywhere, kept where accepted
    out, accepted = proposals(params, first_eps.reshape(-1))
    pending = torch.nonzero(~accepted)[:, 0]
    # later rounds: several proposals for each still-rejected entry, the first accepted kept
    for _ in range(_MAX_ROUNDS):
        if pending.shape[0] == 0:
            return out.reshape(kappa.shape)
        eps = _symmetric_beta((pending.shape[0], _per_entry(pending.shape[0])), d,
                              kappa.device, generator)
        omw, accepted = proposals([a[pending][:, None] for a in params], eps)
        done = accepted.any(-1)
        first = (accepted * 1).argmax(-1)  # the first accepted proposal of each entry
        out[pending[done]] = omw[torch.arange(omw.shape[0], device=kappa.device), first][done]
        pending = pending[~done]
    raise RuntimeError(f"Wood's sampler did not finish in {_MAX_ROUNDS} rounds")


def _exact_one_minus_w_d3(kappa: torch.Tensor, generator=None) -> torch.Tensor:
    r"""1 - w for d = 3 by inverting the CDF exactly (differentiable in ``kappa``).

    For d = 3 the marginal is :math:`\kappa e^{\kappa w} / (2\sinh\kappa)`, whose inverse CDF is
    :math:`w = 1 + \log(u + (1-u)e^{-2\kappa})/\kappa`. Written with :math:`u' = 1 - u`,
    :math:`1 - w = -\operatorname{log1p}(u' \operatorname{expm1}(-2\kappa)) / \kappa`, which is
    accurate for :math:`\kappa` from 1e-8 to 1e8.
    """
    u = torch.rand(kappa.shape, dtype=kappa.dtype, device=kappa.device, generator=generator)
    return -torch.log1p(u * torch.expm1(-2 * kappa)) / kappa


def grid_cdf(kappa: torch.Tensor, d: int, grid_size: int = 4096
             ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The tabulated CDF of :math:`w` behind ``method="inverse_cdf"``: the unnormalised density
    :math:`e^{\kappa w}(1-w^2)^{(d-3)/2}` at the midpoints of ``grid_size`` equal cells of
    [-1, 1] (in log space, its maximum subtracted), times the cell width, accumulated.

    Returns ``(edges, cdf)``: the ``grid_size + 1`` cell edges and, per entry of ``kappa``
    (flattened), the CDF at the edges, from 0 to 1 (shape (kappa.numel(), grid_size + 1)).
    """
    edges = torch.linspace(-1.0, 1.0, grid_size + 1, dtype=kappa.dtype, device=kappa.device)
    mids = 0.5 * (edges[1:] + edges[:-1])
    log_mass = kappa.reshape(-1, 1) * (mids - 1) + 0.5 * (d - 3) * torch.log1p(-mids * mids)
    mass = torch.exp(log_mass - log_mass.max(-1, keepdim=True).values)
    cdf = torch.cat([torch.zeros_like(mass[:, :1]), mass.cumsum(-1)], -1)
    return edges, cdf / cdf[:, -1:]


def inverse_cdf_max_kappa(d: int, grid_size: int = 4096) -> float:
    r"""The largest :math:`\kappa` that ``method="inverse_cdf"`` resolves: a standard deviation
    of :math:`w` at least 8 cells of width :math:`h = 2/N` (N = ``grid_size``).

    With the standard deviation approximated by
    :math:`\sigma_w \approx \sqrt{(d-1)/2}\,/\sqrt{\kappa^2 + d(d-1)/2}` (exact at
    :math:`\kappa = 0`, where it is :math:`1/\sqrt d`, and as :math:`\kappa \to \infty`, where
    :math:`1 - w \to \mathrm{Gamma}(\frac{d-1}{2}, \frac1\kappa)`; below the true value in
    between, so the limit errs on the safe side), :math:`\sigma_w \ge 8h` gives

    .. math:: \kappa_{\max} = \sqrt{\tfrac{d-1}{2}\big((N/16)^2 - d\big)},

    0 when :math:`d \ge (N/16)^2` (no grid of N cells resolves the density) and for d = 2, where
    the grid is biased at every :math:`\kappa` (see :func:`sample_one_minus_w`).
    """
    if d == 2:
        return 0.0
    spread = (grid_size / (2 * _CELLS_PER_SD)) ** 2 - d
    return math.sqrt(0.5 * (d - 1) * spread) if spread > 0 else 0.0


def _warn_if_unresolved(kappa: torch.Tensor, d: int, grid_size: int) -> None:
    """One :class:`GridResolutionWarning` per call when any kappa is past the grid's limit."""
    limit = inverse_cdf_max_kappa(d, grid_size)
    if d == 2:
        warnings.warn("method='inverse_cdf': biased at every kappa for d = 2 (the density's "
                      "endpoint singularities); use method='rejection'",
                      GridResolutionWarning, stacklevel=3)
    elif kappa.numel() and bool((kappa > limit).any()):
        warnings.warn(f"method='inverse_cdf': kappa = {float(kappa.max()):.4g} exceeds "
                      f"{limit:.4g}, the largest its grid of grid_size = {grid_size} cells "
                      f"resolves for d = {d}; use method='rejection' or a larger grid_size",
                      GridResolutionWarning, stacklevel=3)


def _grid_one_minus_w(
    kappa: torch.Tensor, d: int, sample_shape: torch.Size, grid_size: int, generator=None
) -> torch.Tensor:
    r"""1 - w by the numeric inverse CDF on a uniform grid of w in [-1, 1].

    The textbook numeric method: tabulate :math:`e^{\kappa w}(1-w^2)^{(d-3)/2}` at the midpoints
    of ``grid_size`` equal cells, accumulate the cell masses into a CDF and invert it by linear
    interpolation within a cell. It is approximate, and kept so that the book can show how:

    - for d = 2 it is biased at every :math:`\kappa`: the density's integrable singularities
      :math:`(1-w^2)^{-1/2}` at :math:`\pm 1` give the two end cells only :math:`1/\sqrt{2}`
      of their mass under the midpoint rule, whatever ``grid_size``;
    - it saturates at large :math:`\kappa`: all draws in the last cell come out uniform on
      :math:`1 - w \in [0, 2/N]`, so the spread of :math:`1 - w` never falls below
      :math:`(2/N)/\sqrt{12}` (mean :math:`\ge 1/N`, 2.4e-4 for N = 4096) while the true one is
      :math:`\sqrt{(d-1)/2}/\kappa`: at :math:`\kappa = 10^6`, d = 3, 140 times too wide. It is
      accurate (mean of :math:`1 - w` within 0.4%, its spread within 0.3%, measured for
      d = 3 ... 1000) while a standard deviation of :math:`w` spans at least 8 cells, i.e. for
      :math:`\kappa \le` :func:`inverse_cdf_max_kappa` (256 for d = 3, 1436 for d = 64 at
      N = 4096), and warns (:class:`GridResolutionWarning`) beyond;
    - it builds one table of ``grid_size`` cells per batch entry (memory batch x grid_size).
    """
    edges, cdf = grid_cdf(kappa, d, grid_size)
    flat = kappa.reshape(-1, 1)
    n = math.prod(sample_shape)
    u = torch.rand(flat.shape[0], n, dtype=kappa.dtype, device=kappa.device, generator=generator)
    cell = torch.searchsorted(cdf, u, right=True).clamp(1, grid_size) - 1
    lo, hi = cdf.gather(-1, cell), cdf.gather(-1, cell + 1)
    frac = (u - lo) / (hi - lo).clamp(min=torch.finfo(kappa.dtype).tiny)
    w = edges[cell] + frac * (2.0 / grid_size)
    return (1 - w).T.reshape(torch.Size(sample_shape) + kappa.shape)


def sample_one_minus_w(
    kappa: torch.Tensor,
    d: int,
    sample_shape: torch.Size = torch.Size(),
    method: str = "auto",
    grid_size: int = 4096,
    generator: torch.Generator | None = None,
    first_eps: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Draw :math:`1 - w`, :math:`w = \langle\mu, z\rangle`, for a vMF draw :math:`z`.

    Args:
        kappa: concentrations, float64 tensor of the batch shape, all > 0.
        d: ambient dimension (>= 2).
        sample_shape: leading shape of the draws; the result has shape sample_shape + kappa.shape.
        method: ``"rejection"`` (Wood 1994), ``"exact"`` (inverse CDF, d = 3 only),
            ``"inverse_cdf"`` (numeric inverse CDF on a grid of ``grid_size`` cells; approximate,
            accurate only for kappa <= :func:`inverse_cdf_max_kappa` and never for d = 2, with a
            :class:`GridResolutionWarning` otherwise), or ``"auto"``: exact for d = 3,
            rejection otherwise.
        generator: optional ``torch.Generator`` for reproducible draws.
        first_eps: optional Beta((d-1)/2, (d-1)/2) draws (shape sample_shape + kappa.shape) for
            the rejection sampler's first round; see :func:`sample_vmf`.

    Returns:
        float64 tensor of 1 - w in [0, 2], differentiable in ``kappa`` (exactly for ``"exact"``,
        by implicit reparameterisation otherwise).
    """
    check_choice(method, "method", METHODS)
    if method == "exact" and d != 3:
        raise fail("method", f"one of {METHODS} other than 'exact' for d = {d} ('exact' "
                   "exists only for d = 3)", method)
    shape = torch.Size(sample_shape) + kappa.shape
    if method == "exact" or (method == "auto" and d == 3):
        return _exact_one_minus_w_d3(kappa.expand(shape), generator)
    with torch.no_grad():
        if method == "inverse_cdf":
            _warn_if_unresolved(kappa, d, grid_size)
            omw = _grid_one_minus_w(kappa.detach(), d, torch.Size(sample_shape), grid_size,
                                    generator)
        else:
            omw = _wood_one_minus_w(kappa.detach().expand(shape), d, first_eps, generator)
    return attach_implicit_gradient(omw, kappa.expand(shape), d)


def _dw_dkappa_kernel(xp, omw, kappa, mean_w, d: int):
    """dw/dkappa at the draws, for numpy or torch arrays (``xp``) of one shape; see module doc."""
    # np.minimum/np.maximum: ndarray.clip costs several times more on small arrays
    at_least, at_most = (np.maximum, np.minimum) if xp is np else (torch.clamp_min,
                                                                     torch.clamp_max)
    omw = at_least(omw, 1e-300)
    theta_w = 2 * xp.arcsin(at_most(xp.sqrt(0.5 * omw), 1.0))
    sin_w2 = omw * (2 - omw)
    # mode of exp(l(theta)) and the local width there (1 / sqrt(-l''))
    # (past LARGE_KAPPA, 4 kappa^2 would overflow: the same ratio in s = (d - 2) / (2 kappa))
    large = kappa >= _kernels.LARGE_KAPPA
    k_small, k_large = xp.where(large, 1.0, kappa), xp.where(large, kappa, 1.0)
    s = 0.5 * (d - 2) / k_large
    cos_mode = at_most(xp.where(large, 1 / (s + xp.sqrt(1 + s * s)), 2 * k_small / (
        (d - 2) + xp.sqrt((d - 2) ** 2 + 4 * k_small * k_small))), 1.0)
    sin2_mode = (1 - cos_mode) * (1 + cos_mode)
    curvature = kappa * cos_mode + (d - 2) / xp.where(sin2_mode > 0, sin2_mode, math.inf)
    width = _kernels.QUAD_WINDOW / xp.sqrt(at_least(curvature, 1e-300))
    towards_pole = theta_w <= xp.arccos(cos_mode)  # integrate over [theta_w - L, theta_w]
    # the window is measured at the mode; where it reaches most of the way to the end of the
    # side (flat tails, e.g. d = 3 near theta = pi) take the whole side instead
    side = xp.where(towards_pole, theta_w, math.pi - theta_w)
    length = xp.where(width >= 0.5 * side, side, width)
    # step direction along theta: -1 towards the pole ([theta_w - L, theta_w], counted
    # positive), +1 away from it ([theta_w, theta_w + L], counted negative)
    sign = 1 - 2 * towards_pole
    nodes, weights = _kernels.gauss_legendre(_kernels.QUAD_NODES)
    if xp is torch:
        nodes, weights = (torch.as_tensor(a, device=omw.device) for a in (nodes, weights))
    # integrand at theta = theta_w - sign L (x + 1)/2, x the nodes on [-1, 1], in terms of
    # s = sin^2(theta/2): cos(theta) - A = (1 - A) - 2 s and l(theta) - l(theta_w) =
    # -2 kappa s + kappa (1 - w) + (d-2)/2 [log(s (1 - s)) - log(sin^2(theta_w) / 4)]
    half_step = (0.25 * sign) * length
    s = xp.sin(0.5 * theta_w[..., None] + half_step[..., None] * (nodes + 1)) ** 2
    log_ratio = (-2 * kappa)[..., None] * s + (kappa * omw)[..., None]
    if d > 2:
        log_ratio = log_ratio + (0.5 * (d - 2)) * (
            xp.log(s * (1 - s)) - xp.log(0.25 * sin_w2)[..., None])
    integral = (xp.exp(log_ratio) * ((1 - mean_w)[..., None] - 2 * s)) @ weights
    return (-0.5 * sign * length) * xp.sqrt(sin_w2) * integral


def _dw_dkappa(omw: torch.Tensor, kappa: torch.Tensor, d: int,
               mean_w: torch.Tensor | None = None) -> torch.Tensor:
    """The implicit derivative dw/dkappa at the draws (float64 tensors, no autograd).

    Runs the compiled loop of :mod:`hvae._kernels` on the CPU (a batch of small quadratures:
    array code would be dispatch-bound), :func:`_dw_dkappa_kernel` in torch elsewhere.
    """
    if mean_w is None:
        mean_w = bessel_terms(0.5 * d - 1, kappa).ratio  # A_d(kappa) = I_{d/2} / I_{d/2-1}
    omw, kappa, mean_w = torch.broadcast_tensors(omw, kappa.detach(), mean_w.detach())
    if omw.device.type == "cpu":
        flat = (np.ascontiguousarray(a.numpy(), dtype=np.float64).reshape(-1)
                for a in (omw, kappa, mean_w))
        nodes, weights = _kernels.gauss_legendre(_kernels.QUAD_NODES)
        out = _kernels.dw_dkappa(*flat, d, _kernels.QUAD_WINDOW, nodes, weights)
        return torch.from_numpy(out).reshape(omw.shape)
    return _dw_dkappa_kernel(torch, omw, kappa, mean_w, d)


class _ImplicitOneMinusW(torch.autograd.Function):
    @staticmethod
    def forward(ctx, omw: torch.Tensor, kappa: torch.Tensor, d: int):
        ctx.save_for_backward(omw, kappa)
        ctx.d = d
        return omw.clone()

    @staticmethod
    def backward(ctx, grad_out):
        omw, kappa = ctx.saved_tensors
        with torch.no_grad():
            d_omw = -_dw_dkappa(omw, kappa, ctx.d)
        return None, grad_out * d_omw, None


def attach_implicit_gradient(omw: torch.Tensor, kappa: torch.Tensor, d: int) -> torch.Tensor:
    r"""Return ``omw`` unchanged, with d(omw)/d(kappa) given by implicit reparameterisation.

    ``omw`` (1 - w) and ``kappa`` are float64 tensors of the same shape; ``omw`` carries no
    gradient of its own (it came from a sampler).
    """
    if not kappa.requires_grad:
        return omw
    return _ImplicitOneMinusW.apply(omw.detach(), kappa, d)


def sample_uniform_sphere(shape: torch.Size, d: int, dtype=None, device=None,
                          generator=None) -> torch.Tensor:
    """Uniform points of S^{d-1} in R^d, shape + (d,): the kappa = 0 limit of the vMF."""
    g = torch.randn(*shape, d, dtype=dtype, device=device, generator=generator)
    return g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)


def tangent_projection(loc: torch.Tensor, w: torch.Tensor, sin_w: torch.Tensor,
                       g: torch.Tensor) -> torch.Tensor:
    r"""Map :math:`w` onto the sphere around ``loc`` through a projected Gaussian:

    .. math:: z = w\mu + \sqrt{1-w^2}\,
              \frac{(I - \mu\mu^\top) g}{\|(I - \mu\mu^\top) g\|},
              \qquad g \sim \mathcal{N}(0, I_d).

    :math:`(I - \mu\mu^\top) g` is a standard Gaussian of the hyperplane orthogonal to
    :math:`\mu`, so its direction is uniform on that hyperplane's unit sphere :math:`S^{d-2}`:
    the same law of :math:`z` as :func:`sample_vmf`, without a
    reflection, O(d) per draw. (The projection is 0 only when :math:`g \parallel \mu`, an
    event of probability 0.)

    Args:
        loc: unit mean directions, (..., d).
        w, sin_w: :math:`\langle\mu, z\rangle` and :math:`\sqrt{1-w^2}`, shape (...).
        g: standard Gaussian vectors, (..., d).
    """
    g_perp = g - (g * loc).sum(-1, keepdim=True) * loc
    v = g_perp / torch.linalg.vector_norm(g_perp, dim=-1, keepdim=True)
    return w.unsqueeze(-1) * loc + sin_w.unsqueeze(-1) * v


def sample_vmf(
    loc: torch.Tensor,
    kappa: torch.Tensor,
    sample_shape: torch.Size = torch.Size(),
    method: str = "auto",
    generator: torch.Generator | None = None,
    mean_w: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Draws of :math:`\mathrm{vMF}_d(\mu, \kappa)`, shape sample_shape + batch + (d,).

    One standard Gaussian vector :math:`g \in \mathbb{R}^d` per draw supplies the tangent
    direction :math:`g_{2:d}/|g_{2:d}|` (uniform on :math:`S^{d-2}`) and, for Wood's sampler,
    its first proposal :math:`(1 + g_1/|g|)/2` (independent of that direction). The draw around
    the pole :math:`s e_1` is :math:`y = (s w, \sqrt{1-w^2}\, g_{2:d}/|g_{2:d}|)`, then the
    Householder reflection :math:`H = I - 2uu^T/\|u\|^2`, :math:`u = s e_1 - \mu`, which swaps
    :math:`s e_1` and :math:`\mu`, carries it to :math:`\mu`. Taking :math:`s = -1` when
    :math:`\mu_1 \ge 0` and :math:`+1` otherwise makes :math:`\|u\|^2 = 2 + 2|\mu_1| \ge 2`,
    so the reflection is well conditioned at :math:`\mu = \pm e_1`. Cost O(n d), no d x d
    matrix, and the Gaussian block is reused in place when no gradient is needed.

    Half precision (float16, bfloat16) is drawn in float32 around :math:`\mu/\|\mu\|` and
    rounded once to ``loc``'s dtype: a unit vector rounded coordinate-wise to unit roundoff
    :math:`u` has :math:`|\|z\| - 1| \le u`, whereas the arithmetic above done in half
    precision (or around a :math:`\mu` that is itself only within :math:`u` of the sphere)
    misses it by several :math:`u`. Gradients flow back through the rounding, in float32.

    Args:
        loc: unit mean directions (batch + (d,)), any float dtype; the draws have its dtype.
        kappa: concentrations, float64, batch shape.
        sample_shape, method, generator: as in :func:`sample_one_minus_w`.
        mean_w: optional :math:`A_d(\kappa)` (batch shape, float64) if the caller has it; the
            implicit gradient needs it and otherwise computes it.
    """
    work = torch.promote_types(loc.dtype, torch.float32)
    if work != loc.dtype:
        # the reflection takes |loc| = 1, and a half-precision loc is only within u of it:
        # rescale in float32 (the norm held constant: the gradient is loc's up to 1 +- u)
        loc_w = loc.to(work)
        loc_w = loc_w / torch.linalg.vector_norm(loc_w.detach(), dim=-1, keepdim=True)
        return sample_vmf(loc_w, kappa, sample_shape, method, generator, mean_w).to(loc.dtype)
    d = loc.shape[-1]
    shape = torch.Size(sample_shape) + kappa.shape
    with torch.no_grad():
        g = torch.randn(*shape, d, dtype=loc.dtype, device=loc.device, generator=generator)
        rest_norm = torch.linalg.vector_norm(g[..., 1:], dim=-1).to(torch.float64)
        first_eps = None
        if method == "rejection" or (method == "auto" and d != 3):
            first_eps = _beta_from_gaussian(g[..., 0].to(torch.float64), rest_norm)
        # kappa detached: the gradient comes from _VmfDraw, not from an implicit-gradient node
        omw = sample_one_minus_w(kappa.detach(), d, sample_shape, method, generator=generator,
                                 first_eps=first_eps)
    if torch.is_grad_enabled() and (loc.requires_grad or kappa.requires_grad):
        return _VmfDraw.apply(loc, kappa, g, rest_norm, omw, mean_w)
    return _reflect(loc.detach(), g, rest_norm, omw)


def _pole_and_axis(loc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """s (batch + (1,)), u = s e1 - loc and |u|^2 = 2 + 2|loc_1| for the reflection."""
    pole = torch.where(loc[..., :1] < 0, 1.0, -1.0).to(loc.dtype)
    u = torch.cat([pole - loc[..., :1], -loc[..., 1:]], -1)
    return pole, u, 2 + 2 * loc[..., :1].abs()


def _reflect(loc: torch.Tensor, g: torch.Tensor, rest_norm: torch.Tensor,
             omw: torch.Tensor) -> torch.Tensor:
    """z = H y with y = (s w, sqrt(1-w^2) g_rest/|g_rest|), built inside ``g`` (overwritten)."""
    pole, u, u_norm2 = _pole_and_axis(loc)
    y = g
    y[..., 1:] *= (torch.sqrt(omw * (2 - omw)) / rest_norm).to(g.dtype).unsqueeze(-1)
    y[..., :1] = pole * (1 - omw).to(g.dtype).unsqueeze(-1)
    coef = (y * u).sum(-1, keepdim=True).mul_(2 / u_norm2)
    return y.addcmul_(coef, u, value=-1)


class _VmfDraw(torch.autograd.Function):
    r"""z = H(mu) y(1 - w) with a hand-written backward (one node instead of ~25).

    With :math:`u = s e_1 - \mu`, :math:`n = \|u\|^2 = 2 - 2 s\mu_1`,
    :math:`c = 2\langle u, y\rangle / n` and :math:`z = y - c u`, for an upstream gradient
    :math:`G`:

    - :math:`\partial L/\partial y = G - (2\langle G, u\rangle / n)\, u` (:math:`H` is
      symmetric);
    - :math:`\partial L/\partial\mu = c\,G + (2\langle G,u\rangle/n)\, y
      - 2 s \langle G, u\rangle (c/n)\, e_1`;
    - :math:`y = (s(1 - q), \sqrt{q(2-q)}\, t)` with :math:`q = 1 - w` and a fixed unit
      :math:`t`, so :math:`\partial L/\partial q = -s (\partial L/\partial y)_1
      + \langle (\partial L/\partial y)_{2:d}, y_{2:d}\rangle (1-q) / (q(2-q))`, and
      :math:`\partial q/\partial\kappa = -\partial w/\partial\kappa` by implicit
      reparameterisation (:func:`_dw_dkappa`).
    """

    @staticmethod
    def forward(ctx, loc, kappa, g, rest_norm, omw, mean_w):
        z = _reflect(loc, g, rest_norm, omw)
        ctx.save_for_backward(loc, kappa, z, omw)
        ctx.mean_w = None if mean_w is None else mean_w.detach()
        return z

    @staticmethod
    def backward(ctx, grad_z):
        loc, kappa, z, omw = ctx.saved_tensors
        pole, u, u_norm2 = _pole_and_axis(loc)
        y = z - (2 * (z * u).sum(-1, keepdim=True) / u_norm2) * u  # H is an involution
        coef = 2 * (u * y).sum(-1, keepdim=True) / u_norm2
        g_dot_u = 2 * (grad_z * u).sum(-1, keepdim=True) / u_norm2
        grad_loc = grad_kappa = None
        if ctx.needs_input_grad[0]:
            grad_loc = coef * grad_z + g_dot_u * y
            grad_loc[..., :1] -= pole * g_dot_u * coef
            grad_loc = grad_loc.sum_to_size(loc.shape)
        if ctx.needs_input_grad[1]:
            grad_y = grad_z - g_dot_u * u
            rest = (grad_y[..., 1:] * y[..., 1:]).sum(-1).to(torch.float64)
            d_omw = (-(pole * grad_y[..., :1]).squeeze(-1).to(torch.float64)
                     + torch.where(omw > 0, rest * (1 - omw) / (omw * (2 - omw)), 0.0))
            mean_w = None if ctx.mean_w is None else ctx.mean_w.expand(omw.shape)
            dw = _dw_dkappa(omw, kappa.expand(omw.shape), loc.shape[-1], mean_w)
            grad_kappa = (-d_omw * dw).sum_to_size(kappa.shape)
        return grad_loc, grad_kappa, None, None, None, None
