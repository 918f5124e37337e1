r"""The S-VAE's stochastic layer in one autograd node: draw :math:`z \sim \mathrm{vMF}` and its KL.

A training step of the S-VAE needs, per example, a reparameterised draw
:math:`z \sim \mathrm{vMF}_d(\mu, \kappa)` with :math:`\mu = r/\lVert r\rVert` (``r`` the encoder's
linear output) and the divergence :math:`\mathrm{KL}(\kappa) = \kappa A_d(\kappa) - L(\kappa)` to
the uniform prior (see :mod:`hvae.distributions`). Built from torch operators, the layer makes
about 280 operator calls forward and backward (torch.profiler, batch of 64, d = 11; 90 with
this node), and on the CPU their dispatch costs more than the arithmetic.
:func:`vmf_rsample_kl` computes the same thing in numpy float64 inside one
:class:`torch.autograd.Function` whose backward is written out:

- through the reflection :math:`z = H(\mu) y` and the normalisation
  :math:`\mu = r / \lVert r\rVert`:
  :math:`\partial L/\partial r = (g_\mu - \mu\langle g_\mu, \mu\rangle)/\lVert r\rVert`, with
  :math:`g_\mu` as in :class:`hvae.sampling._VmfDraw`;
- through :math:`w`: implicit reparameterisation, :math:`\partial w/\partial\kappa` by the
  quadrature of :func:`hvae.sampling._dw_dkappa_kernel`;
- through the KL: :math:`\partial_\kappa \mathrm{KL} = A + \kappa A' - L' = \kappa A'`, since
  :math:`L' = A`, with :math:`A' = 1 - A^2 - \frac{d-1}{\kappa} A` (no cancelling difference).

The random numbers are drawn from torch's generator in the same order and shapes as
``VonMisesFisher(mu, kappa).rsample()``, so for the same seed both give the same draws (up to
float32 rounding) and training stays reproducible with ``torch.manual_seed``. On other devices the
function simply composes the general path.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.sampling import (
    _beta_from_gaussian,
    _dw_dkappa_kernel,
    _exact_one_minus_w_d3,
    _wood_one_minus_w,
)
from hvae.special import _bessel_kernel

__all__ = ["vmf_rsample_kl"]

_NORM_EPS = 1e-12  # as F.normalize: directions shorter than this are not rescaled further


def vmf_rsample_kl(
    direction: torch.Tensor, kappa: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One reparameterised draw of :math:`\mathrm{vMF}_d(r/\lVert r\rVert, \kappa)` per row,
    and the KL of that vMF to the uniform distribution on :math:`S^{d-1}`.

    Args:
        direction: (n, d) un-normalised mean directions ``r`` (d >= 2, the ambient dimension),
            float32 or float64.
        kappa: (n,) concentrations, > 0.
        generator: optional ``torch.Generator``.

    Returns:
        ``(z, kl)``: draws (n, d) on the unit sphere and KL (n,), both of ``direction``'s dtype,
        differentiable in ``direction`` and ``kappa``.
    """
    if direction.dim() != 2 or kappa.shape != direction.shape[:1]:
        raise ValueError(f"direction must be (n, d) and kappa (n,), got "
                         f"{tuple(direction.shape)} and {tuple(kappa.shape)}")
    if direction.shape[1] < 2:
        raise ValueError(f"direction must have d >= 2 columns, got {direction.shape[1]}")
    if direction.device.type != "cpu":  # dispatch is not the bottleneck there
        q = VonMisesFisher(F.normalize(direction, dim=-1, eps=_NORM_EPS), kappa,
                           validate_args=False)
        prior = HypersphericalUniform(direction.shape[1], dtype=direction.dtype,
                                      device=direction.device, validate_args=False)
        return q.rsample(), kl_divergence(q, prior)
    return _FusedVmf.apply(direction, kappa.to(direction.dtype), generator)


class _FusedVmf(torch.autograd.Function):
    @staticmethod
    def forward(ctx, direction, kappa, generator):
        n, d = direction.shape
        r = direction.detach().numpy().astype(np.float64)
        k = kappa.detach().numpy().astype(np.float64)
        if not (np.all(k > 0) and np.all(np.isfinite(k))):
            raise ValueError("kappa must be positive and finite")
        norm = np.maximum(np.sqrt(np.einsum("ij,ij->i", r, r)), _NORM_EPS)[:, None]
        mu = r / norm
        _, mean_w, rescaled, _, d_mean_w = _bessel_kernel(np, np.asarray(0.5 * d - 1), k)
        kl = k * mean_w - rescaled
        # random numbers in the order and shapes of sample_vmf: the Gaussian block, then w
        g = torch.randn(n, d, dtype=direction.dtype, generator=generator).numpy()
        g = g.astype(np.float64)
        rest_norm = np.sqrt(np.einsum("ij,ij->i", g[:, 1:], g[:, 1:]))
        if d == 3:
            omw = _exact_one_minus_w_d3(torch.from_numpy(k), generator).numpy()
        else:
            first_eps = torch.from_numpy(_beta_from_gaussian(g[:, 0], rest_norm))
            omw = _wood_one_minus_w(torch.from_numpy(k), d, first_eps, generator).numpy()
        # Householder reflection carrying the pole s e1 to mu (see sample_vmf)
        pole = np.where(mu[:, 0] < 0, 1.0, -1.0)[:, None]
        u = -mu
        u[:, :1] += pole
        u_norm2 = 2 + 2 * np.abs(mu[:, :1])
        y = g
        y[:, 1:] *= (np.sqrt(omw * (2 - omw)) / rest_norm)[:, None]
        y[:, :1] = pole * (1 - omw)[:, None]
        coef = 2 * np.einsum("ij,ij->i", y, u)[:, None] / u_norm2
        z = y - coef * u
        # numpy arrays, not tensors: nothing here is differentiated twice (once_differentiable)
        ctx.saved = (mu, norm, k, mean_w, d_mean_w, omw, pole, u, u_norm2, y, coef)
        ctx.dtype = direction.dtype
        z, kl = torch.from_numpy(z).to(ctx.dtype), torch.from_numpy(kl).to(ctx.dtype)
        if not ctx.needs_input_grad[1]:  # a fixed kappa: the KL is a constant, as generically
            ctx.mark_non_differentiable(kl)
        return z, kl

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_z, grad_kl):
        mu, norm, k, mean_w, d_mean_w, omw, pole, u, u_norm2, y, coef = ctx.saved
        grad_dir = grad_kappa = None
        gz = grad_z.numpy().astype(np.float64) if grad_z is not None else np.zeros_like(y)
        g_dot_u = 2 * np.einsum("ij,ij->i", gz, u)[:, None] / u_norm2
        if ctx.needs_input_grad[0]:
            grad_mu = coef * gz + g_dot_u * y
            grad_mu[:, :1] -= pole * g_dot_u * coef
            radial = np.einsum("ij,ij->i", grad_mu, mu)[:, None]
            grad_dir = torch.from_numpy((grad_mu - radial * mu) / norm).to(ctx.dtype)
        if ctx.needs_input_grad[1]:
            total = np.zeros_like(k)
            if grad_z is not None:
                grad_y = gz - g_dot_u * u
                rest = np.einsum("ij,ij->i", grad_y[:, 1:], y[:, 1:])
                with np.errstate(divide="ignore", invalid="ignore"):
                    d_omw = -pole[:, 0] * grad_y[:, 0] + np.where(
                        omw > 0, rest * (1 - omw) / (omw * (2 - omw)), 0.0)
                d = y.shape[1]
                total -= d_omw * _dw_dkappa_kernel(np, omw, k, mean_w, d)
            if grad_kl is not None:
                total += grad_kl.numpy().astype(np.float64) * k * d_mean_w
            grad_kappa = torch.from_numpy(total).to(ctx.dtype)
        return grad_dir, grad_kappa, None
