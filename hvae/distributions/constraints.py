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


def _unit_tolerance(dtype: torch.dtype) -> float:
    """How far from 1 a norm may be and still count as a unit vector in this dtype."""
    return min(1e3 * torch.finfo(dtype).eps, 1e-2)


class _Sphere(constraints.Constraint):
    """Finite vectors of unit Euclidean norm (last dimension), tolerance set by the dtype."""

    is_discrete = False
    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(value, dim=-1)
        finite = torch.isfinite(value).all(-1)
        return finite & ((norm - 1).abs() <= _unit_tolerance(value.dtype))


class _PositiveFinite(constraints.Constraint):
    """Finite reals > 0 (a concentration)."""

    is_discrete = False
    event_dim = 0

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(value) & (value > 0)


#: Unit vectors (last dimension) with a norm within ``min(1000 eps, 1e-2)`` of 1 in their dtype.
sphere = _Sphere()
#: Finite values > 0.
positive_finite = _PositiveFinite()
