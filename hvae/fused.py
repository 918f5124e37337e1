r"""The S-VAE's stochastic layer in one autograd node: draw :math:`z \sim \mathrm{vMF}` and its KL.

A training step of the S-VAE needs, per example, a reparameterised draw
:math:`z \sim \mathrm{vMF}_d(\mu, \kappa)` with :math:`\mu = r/\lVert r\rVert` (``r`` the encoder's
linear output) and the divergence :math:`\mathrm{KL}(\kappa) = \kappa A_d(\kappa) - L(\kappa)` to
the uniform prior (:func:`hvae.distributions.kl_uniform`, which evaluates it without
cancellation). Built from torch operators, the layer makes
about 280 operator calls forward and backward (torch.profiler, batch of 64, d = 11; 90 with
this node), and on the CPU their dispatch costs more than the arithmetic.
:func:`vmf_rsample_kl` computes the same thing in float64 inside one
:class:`torch.autograd.Function` whose backward is written out, its loops compiled
(``hvae._kernels``, numba) and Wood's sampler and the Bessel functions shared with the generic
path:

- through the reflection :math:`z = H(\mu) y` and the normalisation
  :math:`\mu = r / \lVert r\rVert`:
  :math:`\partial L/\partial r = (g_\mu - \mu\langle g_\mu, \mu\rangle)/\lVert r\rVert`, with
  :math:`g_\mu` as in ``hvae.sampling._VmfDraw``;
- through :math:`w`: implicit reparameterisation, :math:`\partial w/\partial\kappa` by the
  quadrature of ``hvae.sampling._dw_dkappa_kernel``;
- through the KL: :math:`\partial_\kappa \mathrm{KL} = A + \kappa A' - L' = \kappa A'`, since
  :math:`L' = A`, with :math:`A' = 1 - A^2 - \frac{d-1}{\kappa} A` (no cancelling difference).

The random numbers are drawn from torch's generator in the same order and shapes as
``VonMisesFisher(mu, kappa).rsample()``, so for the same seed both give the same draws (up to
float32 rounding) and training stays reproducible with ``torch.manual_seed``. On other devices the
function simply composes the general path.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from hvae import _kernels
from hvae._validation import fail
from hvae.distributions import HypersphericalUniform, VonMisesFisher, kl_uniform
from hvae.sampling import sample_one_minus_w
from hvae.special import bessel_terms_and_derivatives

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
        raise fail("direction", "(n, d) with kappa (n,)",
                   f"{tuple(direction.shape)} with kappa {tuple(kappa.shape)}")
    if direction.shape[1] < 2:
        raise fail("direction", "(n, d) with d >= 2 columns (the ambient dimension)",
                   tuple(direction.shape))
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
        # via torch's cast: numpy has no bfloat16 (a float64 input is not copied)
        r = direction.detach().to(torch.float64).numpy()
        k = kappa.detach().to(torch.float64).numpy()
        if not (k.min() > 0 and k.max() < math.inf):  # NaN fails the first test
            bad = k[~((k > 0) & (k < math.inf))]
            raise fail("kappa", "positive and finite", float(bad[0]))
        terms, _, d_mean_w = bessel_terms_and_derivatives(0.5 * d - 1, torch.from_numpy(k))
        kl = kl_uniform(torch.from_numpy(k), terms, d)
        mean_w, d_mean_w = terms.ratio.numpy(), d_mean_w.numpy()
        # random numbers in the order and shapes of sample_vmf: the Gaussian block, then w
        # float16/bfloat16 draw their normals in float32, as sample_vmf does
        g = torch.randn(n, d, dtype=torch.promote_types(direction.dtype, torch.float32),
                        generator=generator).numpy()
        g = g.astype(np.float64)  # a copy even for float64: reflect writes y from it
        rest_norm, first_eps = _kernels.split_gaussian(g)
        # exact inversion for d = 3, Wood's sampler from first_eps otherwise (kappa carries no
        # gradient here: the backward below is written out)
        omw = sample_one_minus_w(torch.from_numpy(k), d, generator=generator,
                                 first_eps=None if d == 3 else torch.from_numpy(first_eps)
                                 ).numpy()
        # normalisation and the Householder reflection carrying the pole s e1 to mu
        z, y, mu, norm = _kernels.reflect(r, g, rest_norm, omw, _NORM_EPS)
        # numpy arrays, not tensors: nothing here is differentiated twice (once_differentiable)
        ctx.saved = (y, mu, norm, omw, k, mean_w, d_mean_w)
        ctx.dtype = direction.dtype
        z = torch.from_numpy(z).to(ctx.dtype)
        kl = kl.to(ctx.dtype)
        if not ctx.needs_input_grad[1]:  # a fixed kappa: the KL is a constant, as generically
            ctx.mark_non_differentiable(kl)
        return z, kl

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_z, grad_kl):
        y, mu, norm, omw, k, mean_w, d_mean_w = ctx.saved
        gz = np.zeros_like(y) if grad_z is None else grad_z.to(torch.float64).numpy()
        gkl = np.zeros_like(k) if grad_kl is None else grad_kl.to(torch.float64).numpy()
        nodes, weights = _kernels.gauss_legendre(_kernels.QUAD_NODES)
        with_kappa = ctx.needs_input_grad[1]
        grad_dir, grad_kappa = _kernels.fused_backward(
            gz, gkl, y, mu, norm, omw, k, mean_w, d_mean_w, _kernels.QUAD_WINDOW, nodes, weights,
            with_kappa)
        return (torch.from_numpy(grad_dir).to(ctx.dtype),
                torch.from_numpy(grad_kappa).to(ctx.dtype) if with_kappa else None, None)
