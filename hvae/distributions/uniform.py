r"""The uniform distribution on the sphere :math:`S^{d-1} \subset \mathbb{R}^d`, and the
sphere's area.

Dimension convention: ``dim`` (written d in the formulas) is the *ambient* dimension, as
everywhere in ``hvae``: points of :math:`S^{d-1} = \{x \in \mathbb{R}^d : \|x\| = 1\}`, whose
area is :math:`|S^{d-1}| = 2\pi^{d/2}/\Gamma(d/2)`.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution

from hvae._validation import check_dim
from hvae.distributions.constraints import sphere
from hvae.sampling import sample_uniform_sphere

__all__ = ["HypersphericalUniform", "log_sphere_area"]


def log_sphere_area(d: int) -> float:
    r"""Log surface area of :math:`S^{d-1}`: :math:`\log 2 + (d/2)\log\pi - \log\Gamma(d/2)`."""
    return math.log(2) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


class HypersphericalUniform(Distribution):
    r"""The uniform distribution on :math:`S^{d-1} \subset \mathbb{R}^d` (d = ``dim``, the
    ambient dimension).

    Density :math:`1/|S^{d-1}|` with respect to the surface measure; the limit
    :math:`\kappa \to 0` of the von Mises-Fisher distribution.

    Args:
        dim: the ambient dimension d, an integer >= 2 (``d=`` is accepted as an alias).
        batch_shape: as in ``torch.distributions``.
        dtype, device: of the samples (default: torch's default dtype, the CPU).
        validate_args: as in ``torch.distributions``.
    """

    arg_constraints = {}
    support = sphere
    has_rsample = True

    def __init__(self, dim: int | None = None, batch_shape=torch.Size(), dtype=None,
                 device=None, validate_args=None, *, d: int | None = None):
        if d is not None:
            if dim is not None:
                raise ValueError(f"d: must be omitted when dim is given (d is an alias of dim), "
                                 f"got dim={dim!r} and d={d!r}")
            dim = d
        self.dim = check_dim(dim, "dim")
        self.dtype = dtype or torch.get_default_dtype()
        self.device = torch.device(device or "cpu")
        super().__init__(torch.Size(batch_shape), torch.Size([self.dim]),
                         validate_args=validate_args)

    @property
    def d(self) -> int:
        """The ambient dimension: an alias of ``dim``."""
        return self.dim

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HypersphericalUniform, _instance)
        new.dim, new.dtype, new.device = self.dim, self.dtype, self.device
        super(HypersphericalUniform, new).__init__(torch.Size(batch_shape), self.event_shape,
                                                   validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        return sample_uniform_sphere(shape, self.dim, self.dtype, self.device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        return torch.full(shape, -log_sphere_area(self.dim), dtype=value.dtype,
                          device=value.device)

    def entropy(self) -> torch.Tensor:
        return torch.full(self.batch_shape, log_sphere_area(self.dim), dtype=self.dtype,
                          device=self.device)

    def __repr__(self) -> str:
        return f"HypersphericalUniform(dim={self.dim}, batch_shape={tuple(self.batch_shape)})"
