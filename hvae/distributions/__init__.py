r"""Distributions on the sphere :math:`S^{d-1} \subset \mathbb{R}^d`, in ``torch.distributions``
style: the von Mises-Fisher law, the uniform law, the KL between them and the marginal of
:math:`w = \langle\mu, z\rangle`.

Modules: :mod:`~hvae.distributions.von_mises_fisher` (:class:`VonMisesFisher`, its registered
KL to :class:`HypersphericalUniform` (:func:`kl_uniform`) and that KL's small- and
large-:math:`\kappa` limits),
:mod:`~hvae.distributions.uniform` (:class:`HypersphericalUniform`, :func:`log_sphere_area`),
:mod:`~hvae.distributions.marginal` (density, CDF and survival function of :math:`w`) and
:mod:`~hvae.distributions.constraints`. Both distributions take the *ambient* dimension ``dim``.
"""

from hvae.distributions import marginal
from hvae.distributions.constraints import positive_finite, sphere
from hvae.distributions.uniform import HypersphericalUniform, log_sphere_area
from hvae.distributions.von_mises_fisher import (
    VonMisesFisher,
    kl_uniform,
    kl_uniform_large_kappa,
    kl_uniform_large_kappa_slope,
    kl_uniform_small_kappa,
)

__all__ = [
    "HypersphericalUniform",
    "VonMisesFisher",
    "kl_uniform",
    "kl_uniform_large_kappa",
    "kl_uniform_large_kappa_slope",
    "kl_uniform_small_kappa",
    "log_sphere_area",
    "marginal",
    "positive_finite",
    "sphere",
]
