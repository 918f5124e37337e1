"""The argument and support constraints of the distributions on the sphere.

``torch.distributions`` checks parameters and samples against
:class:`~torch.distributions.constraints.Constraint` objects when
``validate_args`` is on; these two are the ones :mod:`hvae.distributions` needs: points of the
unit sphere :math:`S^{d-1} \\subset \\mathbb{R}^d` (d ambient) and finite positive reals.
"""

from __future__ import annotations

import torch
from torch.distributions import constraints

__all__ = ["positive_finite", "sphere"]


def _working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision the package computes half-precision values in: at least float32."""
    return torch.promote_types(dtype, torch.float32)


def _unit_tolerance(dtype: torch.dtype) -> float:
    r"""How far from 1 the norm of a unit vector stored in ``dtype`` may be:
    :math:`2u/(1-u) + 64 u_w`, with :math:`u` the unit roundoff of ``dtype`` (``eps / 2``) and
    :math:`u_w` that of the working precision (float32 for half precision, else ``dtype``).

    Derivation. A unit vector rounded coordinate-wise, :math:`x_i = z_i(1+\delta_i)`,
    :math:`|\delta_i| \le u`, has :math:`\|x\|^2 = \sum z_i^2 (1+\delta_i)^2 \in
    [(1-u)^2, (1+u)^2]`, so :math:`|\|x\| - 1| \le u` (the draws of
    :func:`hvae.sampling.sample_vmf` in half precision). A vector normalised in its own dtype,
    :math:`x_i = \mathrm{fl}(h_i / \mathrm{fl}(\|h\|))`, adds one more rounding, of the norm:
    :math:`\|x\| \in [\frac{1-u}{1+u}, \frac{1+u}{1-u}]`, within :math:`2u/(1-u)` of 1. The
    :math:`64 u_w` covers arithmetic in the working precision: the sum of squares behind every
    norm (here and the caller's) and the sampler's reflection in float32/float64, measured at
    up to 14 :math:`u_w` for d <= 10^4. float64: 7.3e-15; float32: 3.9e-6; float16: 9.8e-4;
    bfloat16: 7.8e-3.
    """
    u = 0.5 * torch.finfo(dtype).eps
    return 2 * u / (1 - u) + 32 * torch.finfo(_working_dtype(dtype)).eps


class _Sphere(constraints.Constraint):
    """Finite vectors of unit Euclidean norm (last dimension), tolerance set by the dtype
    (:func:`_unit_tolerance`); the norm is computed in at least float32, so that half precision
    is not judged by its own rounding of the norm (another :math:`u`)."""

    is_discrete = False
    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(value, dim=-1, dtype=_working_dtype(value.dtype))
        finite = torch.isfinite(value).all(-1)
        return finite & ((norm - 1).abs() <= _unit_tolerance(value.dtype))


class _PositiveFinite(constraints.Constraint):
    """Finite reals > 0 (a concentration)."""

    is_discrete = False
    event_dim = 0

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(value) & (value > 0)


#: Unit vectors (last dimension) with a norm within ``2u/(1-u) + 64 u_w`` of 1 (u: the dtype's
#: unit roundoff, u_w: that of float32 or the dtype if wider; see ``_unit_tolerance``).
sphere = _Sphere()
#: Finite values > 0.
positive_finite = _PositiveFinite()
