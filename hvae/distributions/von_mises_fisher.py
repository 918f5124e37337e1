r"""The von Mises-Fisher distribution, its KL divergence to the uniform law and the limits of
that KL.

It follows ``torch.distributions`` conventions (argument constraints, ``validate_args``,
``expand``, lazy properties) and its dimension is the *ambient* one, ``dim`` (d in the
formulas): points of :math:`S^{d-1} = \{x \in \mathbb{R}^d : \|x\| = 1\}`.

Notation: :math:`v = d/2 - 1`, :math:`A_d(\kappa) = I_{d/2}(\kappa)/I_{d/2-1}(\kappa)` and
:math:`L(\kappa) = \log\big[\Gamma(d/2)(2/\kappa)^{v} I_{v}(\kappa)\big] \ge 0` (see
:func:`hvae.special.bessel_terms`). Then

.. math::
   \log C_d(\kappa) &= v\log\kappa - \tfrac d2 \log 2\pi - \log I_v(\kappa) \\
                    &= -L(\kappa) - \log|S^{d-1}|, \\
   |S^{d-1}| &= \frac{2\pi^{d/2}}{\Gamma(d/2)},

so the KL to the uniform law is :math:`\kappa A_d(\kappa) - L(\kappa)`. As :math:`\kappa`
grows both terms grow like :math:`\kappa` while the KL grows like :math:`\log\kappa`, so
nothing here is formed as that difference: with the complement :math:`M = \kappa - L` and the
gap :math:`1 - A_d`, which :func:`hvae.special.bessel_terms` returns to full relative
precision,

.. math::
   \log q(z) &= \kappa(\langle\mu, z\rangle - 1) + M - \log|S^{d-1}|, \\
   \mathrm{KL} &= M - \kappa(1 - A_d) \;(= \kappa A_d - L), \\
   H &= \log|S^{d-1}| - \mathrm{KL},

the KL taking whichever of its two forms has the smaller terms (:func:`kl_uniform`). These scalar
quantities are computed in float64 and returned in the input dtype; their relative error against
mpmath is below 1e-13 for d from 2 to 10^4 and every :math:`\kappa` from 1e-8 to 1e300 (absolute
where the value is below 1; ``benchmarks/accuracy.py`` prints the table).

The KL term's limits
--------------------
:math:`\mathrm{KL}(\kappa) = \kappa A_d(\kappa) - L(\kappa)` with
:math:`L(\kappa) = \log {}_0F_1(;\frac d2;\frac{\kappa^2}{4})` gives, as :math:`\kappa \to 0`,
:math:`\mathrm{KL} = \frac{\kappa^2}{2d} - \frac{3\kappa^4}{4d^2(d+2)} + O(\kappa^6)`, and the
Hankel expansion of :math:`I_\nu` gives, as :math:`\kappa \to \infty`,
:math:`\mathrm{KL} = \frac{d-1}{2}\log\frac{\kappa}{2\pi e} + \log|S^{d-1}|
+ \frac{(d-1)(d-3)}{4\kappa} + O(\kappa^{-2})`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Distribution, register_kl
from torch.distributions.utils import lazy_property

from hvae import ops
from hvae._validation import check_choice, fail
from hvae.distributions.constraints import positive_finite, sphere
from hvae.distributions.uniform import HypersphericalUniform, log_sphere_area
from hvae.sampling import METHODS, check_kappa_gradient, sample_vmf
from hvae.special import BesselTerms, bessel_terms_and_derivatives, iv_ratio_derivative

__all__ = [
    "VonMisesFisher",
    "kl_uniform",
    "kl_uniform_large_kappa",
    "kl_uniform_large_kappa_slope",
    "kl_uniform_small_kappa",
]


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
            Wood's rejection sampler otherwise; ``"rejection"``; ``"inverse_cdf"``, which is
            approximate: accurate only up to :func:`hvae.sampling.inverse_cdf_max_kappa` (256
            for dim = 3, 1436 for dim = 64), biased for dim = 2, and it warns with
            :class:`hvae.sampling.GridResolutionWarning` otherwise).
        kappa_gradient: the gradient of :meth:`rsample` in :math:`\kappa`: ``"implicit"``
            (implicit reparameterisation, unbiased) or ``"proposal"`` (through Wood's accepted
            proposal only, as the paper's code does: biased,
            :func:`hvae.sampling.attach_proposal_gradient`). The draws are the same.

    ``batch_shape`` is the broadcast of ``loc.shape[:-1]`` and ``concentration.shape``;
    ``event_shape`` is ``(d,)``. :meth:`rsample` is differentiable in both parameters and its
    gradients are unbiased for any differentiable function of the sample.
    """

    arg_constraints = {"loc": sphere, "concentration": positive_finite}
    support = sphere
    has_rsample = True

    def __init__(self, loc: torch.Tensor, concentration, validate_args=None, method="auto",
                 kappa_gradient="implicit"):
        if not isinstance(loc, torch.Tensor) or loc.dim() < 1:
            raise fail("loc", "a tensor of shape (..., dim)",
                       tuple(loc.shape) if isinstance(loc, torch.Tensor) else type(loc).__name__)
        if loc.shape[-1] < 2:
            raise fail("loc", "of shape (..., dim) with dim >= 2 (the ambient dimension)",
                       tuple(loc.shape))
        check_choice(method, "method", METHODS)
        check_kappa_gradient(kappa_gradient, method)
        if method == "exact" and loc.shape[-1] != 3:
            raise fail("method", f"one of {METHODS} other than 'exact' for dim = "
                       f"{loc.shape[-1]} ('exact' exists only for dim = 3)", method)
        # at least float32: float16 would turn kappa > 65504 into inf, bfloat16 keep 3 digits
        concentration = torch.as_tensor(concentration, device=loc.device).to(
            torch.promote_types(loc.dtype, torch.float32))
        try:  # (torch.broadcast_shapes costs some 50 us: skip it where the shapes agree)
            batch_shape = (concentration.shape if loc.shape[:-1] == concentration.shape
                           else torch.broadcast_shapes(loc.shape[:-1], concentration.shape))
        except RuntimeError as err:
            raise fail("concentration", f"of a shape that broadcasts with loc's batch shape "
                       f"{tuple(loc.shape[:-1])}", tuple(concentration.shape)) from err
        self.loc = loc.expand(*batch_shape, loc.shape[-1])
        self.concentration = concentration.expand(batch_shape)
        self.method = method
        self.kappa_gradient = kappa_gradient
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
        new.kappa_gradient = self.kappa_gradient
        super(VonMisesFisher, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def _evaluation(self) -> tuple[BesselTerms, torch.Tensor, torch.Tensor]:
        """The Bessel terms at v = d/2 - 1 in float64 and A_d', values only (of kappa
        detached): the KL, the entropy and rsample's gradient use these and supply their own
        derivatives in kappa, so that they record no Bessel node for autograd."""
        return bessel_terms_and_derivatives(0.5 * self.dim - 1,
                                            self.concentration.detach().double())

    @lazy_property
    def _terms(self) -> BesselTerms:
        """The Bessel terms differentiable in kappa (log_prob, the normaliser, the moments): a
        second evaluation only where kappa takes a gradient."""
        if not (torch.is_grad_enabled() and self.concentration.requires_grad):
            return self._evaluation[0]
        return bessel_terms_and_derivatives(0.5 * self.dim - 1, self.concentration.double())[0]

    @property
    def mean_resultant_length(self) -> torch.Tensor:
        r""":math:`A_d(\kappa) = E\langle\mu, z\rangle = I_{d/2}(\kappa) / I_{d/2-1}(\kappa)`."""
        return self._terms.ratio.to(self.loc.dtype)

    def log_normalizer(self) -> torch.Tensor:
        r""":math:`\log C_d(\kappa)`, the log of the density's normalising constant."""
        return (-self._terms.rescaled - log_sphere_area(self.dim)).to(self.loc.dtype)

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
        a = self._terms.ratio
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
        r""":math:`\log C_d(\kappa) + \kappa\langle\mu, z\rangle
        = \kappa(\langle\mu, z\rangle - 1) + (\kappa - L) - \log|S^{d-1}|`, in float64."""
        if self._validate_args:
            self._validate_sample(value)
        cos = (value.double() * self.loc.double()).sum(-1)
        kappa = self.concentration.double()
        log_p = kappa * (cos - 1) + self._terms.complement - log_sphere_area(self.dim)
        return log_p.to(self.loc.dtype)

    def entropy(self) -> torch.Tensor:
        r""":math:`H = -\log C_d(\kappa) - \kappa A_d(\kappa) = \log|S^{d-1}| - \mathrm{KL}`
        (:func:`kl_uniform`)."""
        terms, _, slope = self._evaluation
        kl = kl_uniform(self.concentration.double(), terms, self.dim, slope)
        return (log_sphere_area(self.dim) - kl).to(self.loc.dtype)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Reparameterised draws of shape ``sample_shape + batch_shape + (d,)``
        (:func:`hvae.sampling.sample_vmf`)."""
        kappa = self.concentration.double()
        # the gradient in kappa needs A_d(kappa): share the lazy evaluation (the KL and the
        # entropy use it), but do not make a draw without gradient pay for it
        needs_grad = torch.is_grad_enabled() and (kappa.requires_grad or self.loc.requires_grad)
        needs_grad = needs_grad and self.kappa_gradient == "implicit"
        mean_w = self._evaluation[0].ratio if needs_grad else None
        return sample_vmf(self.loc, kappa, sample_shape, self.method, mean_w=mean_w,
                          kappa_gradient=self.kappa_gradient)

    def __repr__(self) -> str:
        return (f"VonMisesFisher(dim={self.dim}, batch_shape={tuple(self.batch_shape)}, "
                f"method={self.method!r}, kappa_gradient={self.kappa_gradient!r})")


@register_kl(VonMisesFisher, HypersphericalUniform)
def _kl_vmf_uniform(p: VonMisesFisher, q: HypersphericalUniform) -> torch.Tensor:
    r""":math:`KL = \kappa A_d(\kappa) + \log C_d(\kappa) + \log|S^{d-1}|
    = \kappa A_d(\kappa) - L(\kappa) \ge 0`; constant in :math:`\mu` (:func:`kl_uniform`)."""
    if p.dim != q.dim:
        raise fail("q", f"a uniform law of the same dimension as p (dim = {p.dim})", q)
    terms, _, slope = p._evaluation
    return kl_uniform(p.concentration.double(), terms, p.dim, slope).to(p.loc.dtype)


def kl_uniform(kappa: torch.Tensor, terms: BesselTerms, d: int,
               ratio_derivative: torch.Tensor | None = None) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathrm{vMF}(\mu, \kappa) \,\|\, \mathcal U(S^{d-1}))` (d ambient)
    from the Bessel terms at :math:`v = d/2 - 1` (:func:`hvae.special.bessel_terms` of
    ``kappa``), in float64, in whichever of two equal forms has the smaller terms:

    .. math:: \mathrm{KL} = \kappa A_d - L = (\kappa - L) - \kappa(1 - A_d).

    The first is exact as :math:`\kappa \to 0` (both terms :math:`O(\kappa^2)`), the second as
    :math:`\kappa \to \infty` (both :math:`O(\log\kappa)`, where the first would subtract two
    numbers of size :math:`\kappa`). Its gradient in ``kappa`` is
    :math:`\kappa A_d'(\kappa)`, given to autograd directly: differentiating either form would
    add and subtract :math:`A_d`-sized terms around it. ``ratio_derivative`` is
    :math:`A_d'(\kappa)` if the caller has it (:func:`hvae.special.bessel_terms_and_derivatives`
    returns it with the terms); otherwise it is computed.
    """
    k = kappa.detach()
    k_ratio, k_gap = k * terms.ratio.detach(), k * terms.gap.detach()
    rescaled, complement = terms.rescaled.detach(), terms.complement.detach()
    kl = torch.where(k_ratio + rescaled <= complement + k_gap, k_ratio - rescaled,
                     complement - k_gap)
    if kappa.requires_grad:
        if ratio_derivative is None:
            ratio_derivative = iv_ratio_derivative(0.5 * d, kappa.detach())
        slope = kappa.detach() * ratio_derivative.detach()
        kl = ops.with_slope(kl, kappa, slope)
    return kl


# --- the KL term's limits ---------------------------------------------------------------------


def kl_uniform_small_kappa(kappa, d: int):
    r"""Two terms of :math:`\mathrm{KL}(\mathrm{vMF}(\mu,\kappa)\,\|\,\mathcal U(S^{d-1}))` at
    small :math:`\kappa` (d ambient):

    .. math:: \frac{\kappa^2}{2d} - \frac{3\kappa^4}{4d^2(d+2)},

    from :math:`L = \frac{\kappa^2}{2d} - \frac{\kappa^4}{4d^2(d+2)} + O(\kappa^6)`,
    :math:`A_d = L'` and :math:`\mathrm{KL} = \kappa L' - L`. Error :math:`O(\kappa^6)`.
    Works on floats, numpy arrays and tensors."""
    return kappa**2 / (2 * d) - 3 * kappa**4 / (4 * d * d * (d + 2))


def kl_uniform_large_kappa(kappa, d: int, order: int = 1):
    r"""Large-:math:`\kappa` expansion of the KL to the uniform law (d ambient):

    .. math:: \frac{d-1}{2}\log\frac{\kappa}{2\pi e} + \log|S^{d-1}| + \frac{(d-1)(d-3)}{4\kappa}
              + O(\kappa^{-2}),

    through the :math:`\kappa^{-1}` term (``order=1``) or only its two leading terms
    (``order=0``, error :math:`O(\kappa^{-1})`),

    from :math:`\log I_\nu(\kappa) = \kappa - \frac12\log(2\pi\kappa) - \frac{4\nu^2-1}{8\kappa}
    + O(\kappa^{-2})`. The leading terms are :math:`\log|S^{d-1}|` minus the entropy of
    :math:`\mathcal N(0, I_{d-1}/\kappa)`: the vMF looks Gaussian in the tangent space.
    Works on floats and numpy arrays (use ``numpy.log``)."""
    check_choice(order, "order", (0, 1))
    leading = 0.5 * (d - 1) * np.log(kappa / (2 * math.pi * math.e)) + log_sphere_area(d)
    return leading + (d - 1) * (d - 3) / (4 * kappa) if order == 1 else leading


def kl_uniform_large_kappa_slope(kappa, d: int):
    r"""The slope of the KL to the uniform law in :math:`\log\kappa` at large :math:`\kappa`
    (d ambient): the derivative of :func:`kl_uniform_large_kappa` in :math:`\log\kappa`,

    .. math:: \frac{d\,\mathrm{KL}}{d\log\kappa} = \kappa^2 A_d'(\kappa)
              = \frac{d-1}{2} - \frac{(d-1)(d-3)}{4\kappa} + O(\kappa^{-2}),

    since :math:`\partial_\kappa \mathrm{KL} = \kappa A_d'(\kappa)`
    (:func:`hvae.special.iv_ratio_derivative` at :math:`v = d/2`). One half per dimension of
    the sphere: the KL grows only logarithmically. Works on floats, numpy arrays and tensors.
    """
    return (d - 1) / 2 - (d - 1) * (d - 3) / (4 * kappa)
