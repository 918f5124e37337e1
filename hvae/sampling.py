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
   &= \frac{1}{g(w)}\int_w^1 (t - A_d)\, g(t)\, dt \\
   &= \sin\theta_w \int_0^{\theta_w} (\cos\theta - A_d)\,
     e^{\ell(\theta) - \ell(\theta_w)}\, d\theta, \\
   \ell(\theta) &= \kappa\cos\theta + (d-2)\log\sin\theta,

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

import torch

from hvae import _array_kernels, ops
from hvae._validation import check_choice, fail

__all__ = [
    "METHODS",
    "GridResolutionWarning",
    "KAPPA_GRADIENTS",
    "attach_implicit_gradient",
    "attach_proposal_gradient",
    "check_kappa_gradient",
    "proposal_slope",
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
#: The gradients in kappa of a draw: ``"implicit"`` (implicit reparameterisation, unbiased) or
#: ``"proposal"`` (through Wood's accepted proposal only, the estimator of the paper's code;
#: biased, see :func:`attach_proposal_gradient`).
KAPPA_GRADIENTS = ("implicit", "proposal")
# cells of the inverse-CDF grid per standard deviation of w below which it is inaccurate
_CELLS_PER_SD = 8


class GridResolutionWarning(UserWarning):
    """``method="inverse_cdf"`` was asked for a kappa its grid does not resolve."""


#: Wood's envelope parameters (b, x0, c); the sampler's kernels use the same function.
wood_envelope = _array_kernels.wood_envelope


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
) -> torch.Tensor:
    r"""Draw :math:`1 - w`, :math:`w = \langle\mu, z\rangle`, for a vMF draw :math:`z`.

    Args:
        kappa: concentrations, float64 tensor of the batch shape, all > 0.
        d: ambient dimension (>= 2).
        sample_shape: leading shape of the draws; the result has shape sample_shape + kappa.shape.
        method: ``"rejection"`` (Wood 1994, the operator ``hvae::sample_one_minus_w``),
            ``"exact"`` (inverse CDF, d = 3 only), ``"inverse_cdf"`` (numeric inverse CDF on a
            grid of ``grid_size`` cells; approximate, accurate only for kappa <=
            :func:`inverse_cdf_max_kappa` and never for d = 2, with a
            :class:`GridResolutionWarning` otherwise), or ``"auto"``: exact for d = 3,
            rejection otherwise.
        generator: optional ``torch.Generator`` for reproducible draws (the rejection sampler
            takes one 64-bit seed from it).

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
        return _array_kernels.exact_one_minus_w_d3(kappa.expand(shape), generator)
    with torch.no_grad():
        if method == "inverse_cdf":
            _warn_if_unresolved(kappa, d, grid_size)
            omw = _grid_one_minus_w(kappa.detach(), d, torch.Size(sample_shape), grid_size,
                                    generator)
        else:
            flat = kappa.detach().expand(shape).reshape(-1)
            omw = ops.sample_one_minus_w(flat, d, _seed(generator)).reshape(shape)
    return attach_implicit_gradient(omw, kappa.expand(shape), d)


def _seed(generator: torch.Generator | None) -> torch.Tensor:
    """A 64-bit seed for an operator's own generator, drawn from ``generator`` (or torch's
    default one), so that ``torch.manual_seed`` still fixes every draw."""
    return torch.randint(0, 2**63 - 1, (), generator=generator)


class _ImplicitOneMinusW(torch.autograd.Function):
    @staticmethod
    def forward(omw: torch.Tensor, kappa: torch.Tensor, d: int):
        return omw.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        omw, kappa, d = inputs
        ctx.save_for_backward(omw, kappa)
        ctx.d = d

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        omw, kappa = ctx.saved_tensors
        return None, -grad_out * ops.implicit_dw_dkappa(omw, kappa.expand(omw.shape), ctx.d), None


def attach_implicit_gradient(omw: torch.Tensor, kappa: torch.Tensor, d: int) -> torch.Tensor:
    r"""Return ``omw`` unchanged, with d(omw)/d(kappa) given by implicit reparameterisation.

    ``omw`` (1 - w) and ``kappa`` are float64 tensors of the same shape; ``omw`` carries no
    gradient of its own (it came from a sampler).
    """
    if not kappa.requires_grad:
        return omw
    return _ImplicitOneMinusW.apply(omw.detach(), kappa, d)


def check_kappa_gradient(kappa_gradient: str, method: str) -> None:
    """Raise ``ValueError`` unless ``kappa_gradient`` is one of :data:`KAPPA_GRADIENTS` and
    works with ``method`` (``"proposal"`` needs a proposal: not ``"inverse_cdf"``)."""
    check_choice(kappa_gradient, "kappa_gradient", KAPPA_GRADIENTS)
    if kappa_gradient == "proposal" and method == "inverse_cdf":
        raise fail("kappa_gradient", "'implicit' with method='inverse_cdf' (a grid draw has no "
                   "proposal)", kappa_gradient)


def proposal_slope(omw: torch.Tensor, kappa: torch.Tensor, d: int) -> torch.Tensor:
    r""":math:`\partial(1-w)/\partial\kappa` through Wood's proposal with :math:`\varepsilon`
    held fixed, as a function of the draw :math:`q = 1 - w` (float64, d ambient):

    .. math:: \frac{\partial q}{\partial\kappa}\Big|_{\varepsilon}
              = \frac{\partial q}{\partial b}\,\frac{db}{d\kappa}
              = \frac{q(2-q)}{2b}\cdot\frac{-2b}{s} = -\frac{q(2-q)}{s},
              \qquad s = \sqrt{4\kappa^2 + (d-1)^2},

    from :math:`q = 2b\varepsilon / (1 - (1-b)\varepsilon)` (:func:`hvae.wood.wood_proposal`),
    :math:`\varepsilon = q / (2b + (1-b)q)` and :math:`b = (d-1)/(2\kappa + s)`. It depends on
    the draw alone, so it is the same function of :math:`q` whichever sampler drew it."""
    return -omw * (2 - omw) / torch.hypot(2 * kappa, kappa.new_tensor(d - 1.0))


def attach_proposal_gradient(z: torch.Tensor, loc: torch.Tensor, omw: torch.Tensor,
                             kappa: torch.Tensor) -> torch.Tensor:
    r"""Return the draws ``z`` (n, d) unchanged, with the gradient in ``kappa`` (n,) of the
    paper's code: through Wood's accepted proposal only (:func:`proposal_slope`), without the
    correction term :math:`g_{\mathrm{cor}}` of the rejection step, so biased (chapter 3).

    With :math:`z = (1-q)\mu + \sqrt{q(2-q)}\,v`, :math:`v \perp \mu` fixed,

    .. math:: \frac{\partial z}{\partial q} = -\mu + \frac{1-q}{q(2-q)}\,(z - (1-q)\mu),

    and ``z`` gains :math:`\frac{\partial z}{\partial q}\,(\kappa - \bar\kappa)\,
    \partial q/\partial\kappa`, zero in value (:math:`\bar\kappa`: ``kappa`` detached).
    ``z``'s own gradient (in ``loc``) is left as it is."""
    q = omw.detach().unsqueeze(-1)
    mu = loc.detach().double()
    tangent = z.detach().double() - (1 - q) * mu
    dz_dq = -mu + (1 - q) * tangent / (q * (2 - q)).clamp_min(torch.finfo(torch.float64).tiny)
    step = (kappa - kappa.detach()) * proposal_slope(omw.detach(), kappa.detach(), loc.shape[-1])
    return z + (dz_dq * step.unsqueeze(-1)).to(z.dtype)


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
    kappa_gradient: str = "implicit",
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
    matrix. The draw, the reflection and their backward (through :math:`\mu` exactly, through
    :math:`\kappa` by implicit reparameterisation) are one operator, ``hvae::vmf_rsample``
    (:mod:`hvae.ops`), which takes a 64-bit seed drawn from ``generator``.

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
            gradient in :math:`\kappa` needs it and otherwise computes it.
        kappa_gradient: one of :data:`KAPPA_GRADIENTS`: ``"implicit"`` (unbiased) or
            ``"proposal"`` (the paper code's biased gradient, :func:`attach_proposal_gradient`;
            not with ``method="inverse_cdf"``). The draws are the same either way.
    """
    work = torch.promote_types(loc.dtype, torch.float32)
    if work != loc.dtype:
        # the reflection takes |loc| = 1, and a half-precision loc is only within u of it:
        # rescale in float32 (the norm held constant: the gradient is loc's up to 1 +- u)
        loc_w = loc.to(work)
        loc_w = loc_w / torch.linalg.vector_norm(loc_w.detach(), dim=-1, keepdim=True)
        return sample_vmf(loc_w, kappa, sample_shape, method, generator, mean_w,
                          kappa_gradient).to(loc.dtype)
    check_choice(method, "method", METHODS)
    check_kappa_gradient(kappa_gradient, method)
    d = loc.shape[-1]
    shape = torch.Size(sample_shape) + kappa.shape
    proposal = kappa_gradient == "proposal"
    if method == "inverse_cdf":
        return _grid_vmf(loc, kappa, sample_shape, generator)
    if method == "exact" and d != 3:
        raise fail("method", f"one of {METHODS} other than 'exact' for d = {d} ('exact' "
                   "exists only for d = 3)", method)
    exact = method == "exact" or (method == "auto" and d == 3)
    if mean_w is not None:
        mean_w = mean_w.detach().expand(shape).reshape(-1)
    flat_loc, flat_kappa = loc.expand(*shape, d).reshape(-1, d), kappa.expand(shape).reshape(-1)
    z, omw = ops.vmf_rsample_function(flat_loc, flat_kappa.detach() if proposal else flat_kappa,
                                      mean_w, _seed(generator), exact)
    if proposal and flat_kappa.requires_grad:
        z = attach_proposal_gradient(z, flat_loc, omw, flat_kappa)
    return z.reshape(*shape, d)


def _grid_vmf(loc, kappa, sample_shape, generator) -> torch.Tensor:
    """Draws with ``method="inverse_cdf"``: the grid's 1 - w (with its implicit gradient) put
    on the sphere by the same reflection, in differentiable torch operations."""
    d = loc.shape[-1]
    shape = torch.Size(sample_shape) + kappa.shape
    g = torch.randn(*shape, d, dtype=loc.dtype, device=loc.device, generator=generator)
    rest_norm = torch.linalg.vector_norm(g[..., 1:], dim=-1).to(torch.float64)
    omw = sample_one_minus_w(kappa, d, sample_shape, "inverse_cdf", generator=generator)
    return _array_kernels.reflect(loc.expand(*shape, d), g, rest_norm, omw)
