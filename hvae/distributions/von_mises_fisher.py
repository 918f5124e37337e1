r"""The von Mises-Fisher distribution and the uniform distribution on the sphere.

Both follow ``torch.distributions`` conventions (argument constraints, ``validate_args``,
``expand``, lazy properties) and take the *ambient* dimension ``d``: points of
:math:`S^{d-1} = \{x \in \mathbb{R}^d : \|x\| = 1\}`.

Notation: :math:`v = d/2 - 1`, :math:`A_d(\kappa) = I_{d/2}(\kappa)/I_{d/2-1}(\kappa)` and
:math:`L(\kappa) = \log\big[\Gamma(d/2)(2/\kappa)^{v} I_{v}(\kappa)\big] \ge 0` (see
:func:`hvae.special.bessel_terms`). Then

.. math::
   \log C_d(\kappa) = v\log\kappa - \tfrac d2 \log 2\pi - \log I_v(\kappa)
                    = -L(\kappa) - \log|S^{d-1}|, \qquad
   |S^{d-1}| = \frac{2\pi^{d/2}}{\Gamma(d/2)},

so the KL to the uniform law is :math:`\kappa A_d(\kappa) - L(\kappa)`, a difference of two
terms that are both :math:`O(\kappa^2)` as :math:`\kappa \to 0` and never a difference of large
numbers there. These scalar quantities are computed in float64 and returned in the input dtype.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, constraints, register_kl
from torch.distributions.utils import lazy_property

from hvae.sampling import METHODS, sample_uniform_sphere, sample_vmf
from hvae.special import bessel_terms

__all__ = ["HypersphericalUniform", "VonMisesFisher", "log_sphere_area", "sphere"]


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
    is_discrete = False
    event_dim = 0

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(value) & (value > 0)


sphere = _Sphere()
positive_finite = _PositiveFinite()


def log_sphere_area(d: int) -> float:
    r"""Log surface area of :math:`S^{d-1}`: :math:`\log 2 + (d/2)\log\pi - \log\Gamma(d/2)`."""
    return math.log(2) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


class VonMisesFisher(Distribution):
    r"""von Mises-Fisher distribution on :math:`S^{d-1} \subset \mathbb{R}^d`.

    .. math::
       q(z \mid \mu, \kappa) = C_d(\kappa)\, e^{\kappa \langle \mu, z\rangle}, \qquad
       C_d(\kappa) = \frac{\kappa^{d/2-1}}{(2\pi)^{d/2} I_{d/2-1}(\kappa)}.

    Args:
        loc: mean directions :math:`\mu`, unit vectors of shape (..., d), d >= 2.
        concentration: :math:`\kappa > 0`, shape broadcastable with ``loc.shape[:-1]``.
        validate_args: as in ``torch.distributions``.
        method: how :meth:`rsample` draws :math:`w = \langle\mu, z\rangle`; see
            :func:`hvae.sampling.sample_one_minus_w` (``"auto"``: exact inversion for d = 3,
            Wood's rejection sampler otherwise; ``"rejection"``; ``"inverse_cdf"``).

    ``batch_shape`` is the broadcast of ``loc.shape[:-1]`` and ``concentration.shape``;
    ``event_shape`` is ``(d,)``. :meth:`rsample` is differentiable in both parameters and its
    gradients are unbiased for any differentiable function of the sample.
    """

    arg_constraints = {"loc": sphere, "concentration": positive_finite}
    support = sphere
    has_rsample = True

    def __init__(self, loc: torch.Tensor, concentration, validate_args=None, method="auto"):
        if not isinstance(loc, torch.Tensor) or loc.dim() < 1:
            raise ValueError("loc must be a tensor of shape (..., d)")
        if loc.shape[-1] < 2:
            raise ValueError(f"loc must have d >= 2 entries in its last dimension, got "
                             f"{loc.shape[-1]}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if method == "exact" and loc.shape[-1] != 3:
            raise ValueError(f"method='exact' exists only for d = 3, got d = {loc.shape[-1]}")
        concentration = torch.as_tensor(concentration, dtype=loc.dtype, device=loc.device)
        try:
            batch_shape = torch.broadcast_shapes(loc.shape[:-1], concentration.shape)
        except RuntimeError as err:
            raise ValueError(
                f"loc (batch shape {tuple(loc.shape[:-1])}) and concentration (shape "
                f"{tuple(concentration.shape)}) do not broadcast"
            ) from err
        self.loc = loc.expand(*batch_shape, loc.shape[-1])
        self.concentration = concentration.expand(batch_shape)
        self.method = method
        super().__init__(batch_shape, loc.shape[-1:], validate_args=validate_args)

    @property
    def dim(self) -> int:
        """The ambient dimension d."""
        return self.event_shape[0]

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(VonMisesFisher, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.method = self.method
        super(VonMisesFisher, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def _terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(L(kappa), A_d(kappa)) in float64, differentiable in kappa."""
        _, ratio, rescaled = bessel_terms(0.5 * self.dim - 1, self.concentration.double())
        return rescaled, ratio

    @property
    def mean_resultant_length(self) -> torch.Tensor:
        r""":math:`A_d(\kappa) = E\langle\mu, z\rangle = I_{d/2}(\kappa) / I_{d/2-1}(\kappa)`."""
        return self._terms[1].to(self.loc.dtype)

    def log_normalizer(self) -> torch.Tensor:
        r""":math:`\log C_d(\kappa)`, the log of the density's normalising constant."""
        return (-self._terms[0] - log_sphere_area(self.dim)).to(self.loc.dtype)

    @property
    def mean(self) -> torch.Tensor:
        r""":math:`E[z] = A_d(\kappa)\,\mu`."""
        return self.mean_resultant_length.unsqueeze(-1) * self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def covariance_matrix(self) -> torch.Tensor:
        r"""The covariance of z,

        .. math:: \mathrm{Cov}[z] = \frac{A}{\kappa} I
                  + \big(1 - \frac{dA}{\kappa} - A^2\big)\mu\mu^T,


        from :math:`E[zz^T] = \frac{A}{\kappa} I + (1 - \frac{dA}{\kappa})\mu\mu^T`. Forms
        d x d matrices: meant for small d.
        """
        a = self._terms[1]
        a_over_k = a / self.concentration.double()
        eye = torch.eye(self.dim, dtype=torch.float64, device=self.loc.device)
        mu = self.loc.double()
        outer = mu.unsqueeze(-1) * mu.unsqueeze(-2)
        coef = (1 - self.dim * a_over_k - a * a)[..., None, None]
        return (a_over_k[..., None, None] * eye + coef * outer).to(self.loc.dtype)

    @property
    def variance(self) -> torch.Tensor:
        return self.covariance_matrix.diagonal(dim1=-2, dim2=-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        r""":math:`\log C_d(\kappa) + \kappa\langle\mu, z\rangle`, evaluated in float64."""
        if self._validate_args:
            self._validate_sample(value)
        cos = (value.double() * self.loc.double()).sum(-1)
        kappa = self.concentration.double()
        log_p = kappa * (cos - 1) + (kappa - self._terms[0]) - log_sphere_area(self.dim)
        return log_p.to(self.loc.dtype)

    def entropy(self) -> torch.Tensor:
        r""":math:`H = -\log C_d(\kappa) - \kappa A_d(\kappa)`."""
        rescaled, ratio = self._terms
        h = rescaled + log_sphere_area(self.dim) - self.concentration.double() * ratio
        return h.to(self.loc.dtype)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Reparameterised draws of shape ``sample_shape + batch_shape + (d,)``."""
        kappa = self.concentration.double()
        # the implicit gradient needs A_d(kappa): take it from the lazy property, which the KL,
        # entropy and mean then reuse (one Bessel evaluation per distribution)
        mean_w = self._terms[1] if kappa.requires_grad else None
        return sample_vmf(self.loc, kappa, sample_shape, self.method, mean_w=mean_w)

    def __repr__(self) -> str:
        return (f"VonMisesFisher(d={self.dim}, batch_shape={tuple(self.batch_shape)}, "
                f"method={self.method!r})")


class HypersphericalUniform(Distribution):
    r"""The uniform distribution on :math:`S^{d-1} \subset \mathbb{R}^d` (d = ambient dimension).

    Density :math:`1/|S^{d-1}|` with respect to the surface measure; the limit
    :math:`\kappa \to 0` of the von Mises-Fisher distribution.
    """

    arg_constraints = {}
    support = sphere
    has_rsample = True

    def __init__(self, d: int, batch_shape=torch.Size(), dtype=None, device=None,
                 validate_args=None):
        if isinstance(d, bool) or not isinstance(d, int) or d < 2:
            raise ValueError(f"d (the ambient dimension) must be an integer >= 2, got {d!r}")
        self.d = d
        self.dtype = dtype or torch.get_default_dtype()
        self.device = torch.device(device or "cpu")
        super().__init__(torch.Size(batch_shape), torch.Size([d]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HypersphericalUniform, _instance)
        new.d, new.dtype, new.device = self.d, self.dtype, self.device
        super(HypersphericalUniform, new).__init__(torch.Size(batch_shape), self.event_shape,
                                                   validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        return sample_uniform_sphere(shape, self.d, self.dtype, self.device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        return torch.full(shape, -log_sphere_area(self.d), dtype=value.dtype,
                          device=value.device)

    def entropy(self) -> torch.Tensor:
        return torch.full(self.batch_shape, log_sphere_area(self.d), dtype=self.dtype,
                          device=self.device)

    def __repr__(self) -> str:
        return f"HypersphericalUniform(d={self.d}, batch_shape={tuple(self.batch_shape)})"


@register_kl(VonMisesFisher, HypersphericalUniform)
def _kl_vmf_uniform(p: VonMisesFisher, q: HypersphericalUniform) -> torch.Tensor:
    r""":math:`KL = \kappa A_d(\kappa) + \log C_d(\kappa) + \log|S^{d-1}|
    = \kappa A_d(\kappa) - L(\kappa) \ge 0`; constant in :math:`\mu`."""
    if p.dim != q.d:
        raise ValueError(f"dimensions differ: VonMisesFisher has d={p.dim}, the uniform d={q.d}")
    rescaled, ratio = p._terms
    kl = p.concentration.double() * ratio - rescaled
    return kl.to(p.loc.dtype)
