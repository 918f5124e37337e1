r"""The marginal of :math:`w = \langle\mu, z\rangle` under the von Mises-Fisher distribution:
its density (in :math:`w` and in the angle :math:`\theta`), CDF and survival function.

Dimension convention: ``d`` is the *ambient* dimension, as everywhere in ``hvae``: points
:math:`z \in S^{d-1} \subset \mathbb{R}^d`, and :math:`|S^{k}|` is the area of the unit sphere
of :math:`\mathbb{R}^{k+1}` (:func:`hvae.distributions.log_sphere_area` takes ``k + 1``).

The marginal of :math:`w`
-------------------------
Write :math:`z = w\mu + \sqrt{1-w^2}\,v` with :math:`v` a unit vector orthogonal to :math:`\mu`,
and :math:`w = \cos\theta`. In hyperspherical coordinates around :math:`\mu` the surface element
of :math:`S^{d-1}` factors as :math:`dS^{d-1} = \sin^{d-2}\theta\, d\theta\, dS^{d-2}(v)`, so
integrating :math:`C_d(\kappa) e^{\kappa\cos\theta}` over :math:`v` gives the densities

.. math::
   f_\theta(\theta) &= C_d(\kappa)\,|S^{d-2}|\, e^{\kappa\cos\theta}\sin^{d-2}\theta
   \quad (0 \le \theta \le \pi), \\
   f(w) &= C_d(\kappa)\,|S^{d-2}|\, e^{\kappa w}(1-w^2)^{(d-3)/2} \quad (-1 \le w \le 1),

the second from the first by :math:`dw = -\sin\theta\, d\theta`. With
:math:`L(\kappa) = \log\big[\Gamma(d/2)(2/\kappa)^{d/2-1}I_{d/2-1}(\kappa)\big]`
(:func:`hvae.special.bessel_terms`), :math:`\log C_d(\kappa) = -L(\kappa) - \log|S^{d-1}|`, so

.. math::
   \log f(w) = \kappa(w - 1) + \tfrac{d-3}{2}\log(1-w^2)
             + \big[\kappa - L(\kappa)\big] - \log|S^{d-1}| + \log|S^{d-2}|,

in which nothing overflows for large :math:`\kappa`. For :math:`d = 2`, :math:`|S^0| = 2`
(the two points :math:`\pm v`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hvae._kernels import gauss_legendre
from hvae._validation import check_dim, check_number
from hvae.distributions.uniform import log_sphere_area
from hvae.special import bessel_terms

__all__ = ["cdf", "log_density", "log_density_theta", "sf"]

_GL_NODES = 16  # Gauss-Legendre nodes per panel
_HALF_PANELS = 40  # panels of one local width on each side of the mode


def _check(kappa, d) -> tuple[float, int]:
    return check_number(kappa, "kappa", nonnegative=True), check_dim(d, "d")


def _log_norm_shifted(kappa: float, d: int) -> float:
    r""":math:`\log(C_d(\kappa)|S^{d-2}|) + \kappa = (\kappa - L(\kappa)) - \log|S^{d-1}|
    + \log|S^{d-2}|`, which stays O(log kappa) for large kappa (:math:`\kappa - L` from the
    Bessel kernel, without cancellation; 0 at kappa = 0)."""
    complement = bessel_terms(0.5 * d - 1, torch.tensor(kappa, dtype=torch.float64)).complement
    return float(complement) - log_sphere_area(d) + log_sphere_area(d - 1)


def log_density(w, kappa: float, d: int) -> np.ndarray:
    r"""Log density of :math:`w = \langle\mu, z\rangle`, :math:`z \sim \mathrm{vMF}(\mu,\kappa)`
    on :math:`S^{d-1}` (d ambient):

    .. math:: \log f(w) = \log C_d(\kappa) + \kappa w + \tfrac{d-3}{2}\log(1-w^2)
                          + \log|S^{d-2}|.

    Args:
        w: array-like in [-1, 1].
        kappa: concentration >= 0 (0 gives the uniform law's marginal).
        d: ambient dimension >= 2.

    Returns:
        float64 array of ``w``'s shape; ``-inf`` at :math:`w = \pm 1` for d > 3, ``+inf`` there
        for d = 2 (an integrable singularity).
    """
    kappa, d = _check(kappa, d)
    w = np.asarray(w, dtype=np.float64)
    with np.errstate(divide="ignore"):
        shape_term = 0.0 if d == 3 else 0.5 * (d - 3) * np.log1p(-w * w)
    return kappa * (w - 1) + shape_term + _log_norm_shifted(kappa, d)


def log_density_theta(theta, kappa: float, d: int) -> np.ndarray:
    r"""Log density of the angle :math:`\theta = \arccos\langle\mu, z\rangle \in [0, \pi]`:

    .. math:: \log f_\theta(\theta) = \log C_d(\kappa) + \kappa\cos\theta
                                      + (d-2)\log\sin\theta + \log|S^{d-2}|,

    smooth in :math:`\theta` for every d >= 2 (d ambient). float64 array of ``theta``'s shape.
    """
    kappa, d = _check(kappa, d)
    theta = np.asarray(theta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        shape_term = 0.0 if d == 2 else (d - 2) * np.log(np.sin(theta))
    return -2 * kappa * np.sin(0.5 * theta) ** 2 + shape_term + _log_norm_shifted(kappa, d)


def _breakpoints(kappa: float, d: int) -> np.ndarray:
    r"""Panel edges in :math:`\theta`: one local width of :math:`f_\theta` apart around its mode,
    clipped to :math:`[0, \pi]`."""
    if kappa == 0 and d == 2:
        mode, curvature = 0.5 * math.pi, 0.0
    else:  # l(theta) = kappa cos(theta) + (d-2) log sin(theta); l'(mode) = 0
        cos_mode = 2 * kappa / ((d - 2) + math.sqrt((d - 2) ** 2 + 4 * kappa * kappa))
        mode = math.acos(cos_mode)
        sin2 = (1 - cos_mode) * (1 + cos_mode)
        curvature = kappa * cos_mode + ((d - 2) / sin2 if d > 2 else 0.0)
    width = min(1 / math.sqrt(curvature) if curvature > 0 else math.inf, math.pi / 8)
    edges = mode + width * np.arange(-_HALF_PANELS, _HALF_PANELS + 1)
    return np.unique(np.clip(np.concatenate([edges, [0.0, math.pi]]), 0.0, math.pi))


def _cumulative_theta(theta: np.ndarray, kappa: float, d: int, from_pi: bool) -> np.ndarray:
    r""":math:`\int_\theta^\pi f_\theta` (``from_pi``) or :math:`\int_0^\theta f_\theta`, at every
    entry of ``theta``.

    The panel edges of :func:`_breakpoints` and the requested angles, sorted together, cut
    :math:`[0, \pi]` into pieces that each lie inside one panel; each piece is integrated by
    16-point Gauss-Legendre and the pieces are summed cumulatively, starting from the end
    (:math:`\pi` or 0) where the integral is smallest, so that tails keep their relative
    accuracy. Cost O((n + panels) x 16) for n angles.
    """
    edges = _breakpoints(kappa, d)
    points, inverse = np.unique(np.concatenate([edges, theta.reshape(-1)]), return_inverse=True)
    a, b = points[:-1], points[1:]
    nodes, weights = gauss_legendre(_GL_NODES)
    half = 0.5 * (b - a)
    dens = np.exp(log_density_theta((a + half)[:, None] + half[:, None] * nodes, kappa, d))
    pieces = half * (dens @ weights)
    if from_pi:
        cumulative = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]])
    else:
        cumulative = np.concatenate([[0.0], np.cumsum(pieces)])
    return cumulative[inverse[edges.size:]].reshape(theta.shape)


def _theta_of(w: np.ndarray) -> np.ndarray:
    """arccos(w), accurate near w = 1 (2 asin(sqrt((1-w)/2)))."""
    return 2 * np.arcsin(np.sqrt(np.clip(0.5 * (1 - w), 0.0, 1.0)))


def cdf(w, kappa: float, d: int) -> np.ndarray:
    r"""CDF of :math:`w = \langle\mu, z\rangle`, :math:`F(w) = P(\langle\mu, z\rangle \le w)`,
    for the vMF on :math:`S^{d-1}` (d ambient), by quadrature in :math:`\theta = \arccos w`:

    .. math:: F(w) = \int_{\arccos w}^{\pi} f_\theta(\theta)\, d\theta .

    The integrand is smooth for every d (in :math:`w` it has the endpoint singularity
    :math:`(1-w^2)^{-1/2}` when d = 2). Composite 16-point Gauss-Legendre on panels one local
    width of :math:`f_\theta` wide, 40 on each side of the mode, cut further at the requested
    points and summed cumulatively (so n points cost O(n), not O(n x panels)); normalised by
    the closed-form :math:`C_d(\kappa)`, so :math:`F(1) = 1` only up to the quadrature error
    and the normaliser's (about 1e-12 at kappa = 1e4).
    Returns a float64 array of ``w``'s shape; ``kappa`` a scalar >= 0.
    """
    kappa, d = _check(kappa, d)
    theta = _theta_of(np.asarray(w, dtype=np.float64))
    return _cumulative_theta(theta, kappa, d, from_pi=True)


def sf(w, kappa: float, d: int) -> np.ndarray:
    r"""Survival function :math:`1 - F(w) = \int_0^{\arccos w} f_\theta`, computed directly (so
    it keeps its relative accuracy where :math:`F(w) \approx 1`). Same conventions as
    :func:`cdf`."""
    kappa, d = _check(kappa, d)
    theta = _theta_of(np.asarray(w, dtype=np.float64))
    return _cumulative_theta(theta, kappa, d, from_pi=False)
