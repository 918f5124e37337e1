r"""The S-VAE's stochastic layer, draw and KL together: an alias kept for code that imports it.

:func:`vmf_rsample_kl` used to be a second implementation of the draw and the KL (one autograd
node with a hand-written backward). Both now go through the operators of :mod:`hvae.ops`
(``hvae::vmf_rsample``, ``hvae::bessel_terms``) for every caller, so this is the composition
``VonMisesFisher(r / |r|, kappa).rsample()`` and its KL to the uniform law.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from hvae._validation import fail
from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.sampling import sample_vmf

__all__ = ["vmf_rsample_kl"]

_NORM_EPS = 1e-12  # as F.normalize: directions shorter than this are not rescaled further


def vmf_rsample_kl(
    direction: torch.Tensor, kappa: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One reparameterised draw of :math:`\mathrm{vMF}_d(r/\lVert r\rVert, \kappa)` per row,
    and the KL of that vMF to the uniform distribution on :math:`S^{d-1}`.

    Args:
        direction: (n, d) un-normalised mean directions ``r`` (d >= 2, the ambient dimension).
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
    q = VonMisesFisher(F.normalize(direction, dim=-1, eps=_NORM_EPS), kappa, validate_args=False)
    prior = HypersphericalUniform(direction.shape[1], dtype=direction.dtype,
                                  device=direction.device, validate_args=False)
    z = sample_vmf(q.loc, q.concentration.double(), generator=generator)
    return z, kl_divergence(q, prior)
