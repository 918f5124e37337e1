r"""The marginal of :math:`w = \langle\mu, z\rangle` under the vMF, Wood's envelope, and the
limits of the KL term: the formulas of the book's sampling and KL chapters that
:mod:`hvae.sampling` and :mod:`hvae.distributions` do not already hold.

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
   f_\theta(\theta) = C_d(\kappa)\,|S^{d-2}|\, e^{\kappa\cos\theta}\sin^{d-2}\theta
   \quad (0 \le \theta \le \pi), \qquad
   f(w) = C_d(\kappa)\,|S^{d-2}|\, e^{\kappa w}(1-w^2)^{(d-3)/2} \quad (-1 \le w \le 1),

the second from the first by :math:`dw = -\sin\theta\, d\theta`. With
:math:`L(\kappa) = \log\big[\Gamma(d/2)(2/\kappa)^{d/2-1}I_{d/2-1}(\kappa)\big]`
(:func:`hvae.special.bessel_terms`), :math:`\log C_d(\kappa) = -L(\kappa) - \log|S^{d-1}|`, so

.. math::
   \log f(w) = \kappa(w - 1) + \tfrac{d-3}{2}\log(1-w^2)
             + \big[\kappa - L(\kappa)\big] - \log|S^{d-1}| + \log|S^{d-2}|,

in which nothing overflows for large :math:`\kappa`. For :math:`d = 2`, :math:`|S^0| = 2`
(the two points :math:`\pm v`).

Wood's envelope
---------------
Wood (1994) proposes :math:`\varepsilon \sim \mathrm{Beta}(\frac{m}{2}, \frac{m}{2})`,
:math:`m = d - 1`, and :math:`w = \frac{1-(1+b)\varepsilon}{1-(1-b)\varepsilon}`, with
:math:`b = \frac{m}{2\kappa + \sqrt{4\kappa^2 + m^2}}`, :math:`x_0 = \frac{1-b}{1+b}`,
:math:`c = \kappa x_0 + m\log(1-x_0^2)`, and accepts when
:math:`\kappa w + m\log(1-x_0 w) - c \ge \log u`, :math:`u \sim U(0,1)`. Changing variables,
the proposal density of :math:`w` is

.. math::
   g(w) = \frac{2\, b^{m/2}}{B(\frac m2, \frac m2)\,(1+b)^m}\,
          \frac{(1-w^2)^{(m-2)/2}}{(1 - x_0 w)^m},

and :math:`g(w)\,a(w)`, with :math:`a(w) = e^{\kappa w + m\log(1-x_0 w) - c}` the acceptance
probability of a proposal at :math:`w`, is proportional to the target's unnormalised density
:math:`e^{\kappa w}(1-w^2)^{(d-3)/2}`, whose integral is :math:`1/(C_d(\kappa)|S^{d-2}|)`. Hence
the probability that one proposal is accepted is

.. math::
   P_{\mathrm{acc}}(\kappa) = \frac1M
   = \frac{2\, b^{m/2}\, e^{-c}}{B(\frac m2,\frac m2)\,(1+b)^m}\,
     \frac{e^{L(\kappa)}\,|S^{d-1}|}{|S^{d-2}|},

the ratio of the target's normaliser to the envelope's. Here :math:`M = \sup_w f(w)/g(w)`:
Wood's :math:`b` solves :math:`(d-1)b^2 + 4\kappa b = d-1`, which puts the maximum of
:math:`a` at :math:`w = x_0`, where :math:`a(x_0) = 1` by the choice of :math:`c`. The number of
proposals per draw is geometric with mean :math:`M`.

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
from typing import NamedTuple

import numpy as np
import torch

from hvae.distributions import log_sphere_area
from hvae.sampling import _gauss_legendre
from hvae.special import bessel_terms, iv_ratio

__all__ = [
    "WoodDraws",
    "cdf",
    "kl_uniform_large_kappa",
    "kl_uniform_small_kappa",
    "log_density",
    "log_density_theta",
    "mean_resultant_length_derivative",
    "naive_wood_gradient_mean_w",
    "sf",
    "tangent_projection",
    "wood_acceptance_probability",
    "wood_envelope",
    "wood_log_accept",
    "wood_proposal",
    "wood_rejection",
]

_GL_NODES = 16  # Gauss-Legendre nodes per panel
_HALF_PANELS = 40  # panels of one local width on each side of the mode


def _check(kappa: float, d: int) -> tuple[float, int]:
    if isinstance(d, bool) or int(d) != d or d < 2:
        raise ValueError(f"d (the ambient dimension) must be an integer >= 2, got {d!r}")
    kappa = float(kappa)
    if not (math.isfinite(kappa) and kappa >= 0):
        raise ValueError(f"kappa must be finite and >= 0, got {kappa!r}")
    return kappa, int(d)


def _rescaled_log_bessel(kappa: float, d: int) -> float:
    r""":math:`L(\kappa) = \log[\Gamma(d/2)(2/\kappa)^{d/2-1} I_{d/2-1}(\kappa)]` (0 at 0)."""
    return float(bessel_terms(0.5 * d - 1, torch.tensor(kappa, dtype=torch.float64))[2])


def _log_norm_shifted(kappa: float, d: int) -> float:
    r""":math:`\log(C_d(\kappa)|S^{d-2}|) + \kappa`, which stays O(log kappa) for large kappa."""
    return kappa - _rescaled_log_bessel(kappa, d) - log_sphere_area(d) + log_sphere_area(d - 1)


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
    nodes, weights = _gauss_legendre(_GL_NODES)
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


# --- Wood's rejection sampler -------------------------------------------------------------------


def wood_envelope(kappa: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Wood's (1994) envelope parameters :math:`(b, x_0, c)` for the vMF on :math:`S^{d-1}`
    (d ambient), :math:`m = d - 1`:

    .. math:: b = \frac{m}{2\kappa + \sqrt{4\kappa^2 + m^2}}
                = \frac{\sqrt{4\kappa^2+m^2} - 2\kappa}{m},\quad
              x_0 = \frac{1-b}{1+b},\quad c = \kappa x_0 + m\log(1 - x_0^2).

    Differentiable in ``kappa`` (a float64 tensor).
    """
    m = d - 1
    b = m / (2 * kappa + torch.sqrt(4 * kappa * kappa + m * m))
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + m * torch.log(4 * b / (1 + b) ** 2)  # 1 - x0^2 = 4b / (1+b)^2
    return b, x0, c


def wood_proposal(eps: torch.Tensor, kappa: torch.Tensor, d: int) -> torch.Tensor:
    r"""Wood's proposal as :math:`1 - w`: :math:`w = \frac{1-(1+b)\varepsilon}{1-(1-b)\varepsilon}`,
    i.e. :math:`1 - w = \frac{2b\varepsilon}{1 - (1-b)\varepsilon}`, for
    :math:`\varepsilon \in [0, 1]`. Differentiable in ``kappa`` through :math:`b(\kappa)` with
    :math:`\varepsilon` held fixed: the *proposal reparameterisation*."""
    b, _, _ = wood_envelope(kappa, d)
    return 2 * b * eps / (1 - (1 - b) * eps)


def wood_log_accept(one_minus_w: torch.Tensor, kappa: torch.Tensor, d: int) -> torch.Tensor:
    r"""Log acceptance probability of a proposal,
    :math:`\log a(w) = \kappa w + (d-1)\log(1 - x_0 w) - c \le 0`, from :math:`1 - w`
    (d ambient). Its maximum, 0, is at :math:`w = x_0`."""
    b, x0, c = wood_envelope(kappa, d)
    w = 1 - one_minus_w
    return kappa * w + (d - 1) * torch.log1p(-x0 * w) - c


def wood_acceptance_probability(kappa, d: int) -> torch.Tensor:
    r"""Probability that one proposal of Wood's sampler is accepted, :math:`1/M` (module doc):

    .. math:: \log P_{\mathrm{acc}} = \log 2 + \tfrac m2\log b - m\log(1+b) - c
              - \log B(\tfrac m2, \tfrac m2) + L(\kappa) + \log|S^{d-1}| - \log|S^{d-2}|,

    :math:`m = d - 1` (d ambient). It is 1 at :math:`\kappa = 0` and falls with
    :math:`\kappa` to a limit that depends on d (about 0.66 for d = 2, 0.71 for d = 1000).
    The O(kappa) terms of :math:`L` and :math:`c` are cancelled analytically.
    ``kappa``: float or float64 tensor (>= 0); returns a float64 tensor of its shape.
    """
    kappa = torch.as_tensor(kappa, dtype=torch.float64)
    m = d - 1
    b, x0, _ = wood_envelope(kappa, d)
    _, _, rescaled = bessel_terms(0.5 * d - 1, kappa)
    log_beta = 2 * math.lgamma(0.5 * m) - math.lgamma(m)
    # L(kappa) - c without the O(kappa) cancellation: L - kappa x0 = (L - kappa) + kappa(1 - x0)
    l_minus_c = (rescaled - kappa) + kappa * 2 * b / (1 + b) - m * torch.log(4 * b / (1 + b) ** 2)
    log_p = (math.log(2) + 0.5 * m * torch.log(b) - m * torch.log1p(b) - log_beta + l_minus_c
             + log_sphere_area(d) - log_sphere_area(d - 1))
    return torch.exp(log_p)


class WoodDraws(NamedTuple):
    """Draws of :func:`wood_rejection`."""

    one_minus_w: torch.Tensor  #: accepted 1 - w, with the naive gradient in kappa
    eps: torch.Tensor  #: the accepted Beta draws
    proposals: torch.Tensor  #: number of proposals each draw took (int64, >= 1)


def wood_rejection(kappa: torch.Tensor, d: int, n: int, rng: np.random.Generator,
                   max_rounds: int = 10_000) -> WoodDraws:
    r"""``n`` draws of :math:`1 - w` by Wood's rejection sampler, for one scalar ``kappa``,
    counting the proposals each draw needed, and carrying the **naive** gradient.

    An independent implementation (numpy random numbers, not :mod:`hvae.sampling`'s), for
    checking: the acceptance probability (each count is geometric with mean
    :math:`1/P_{\mathrm{acc}}`) and the bias of the proposal reparameterisation. The returned
    ``one_minus_w`` is :func:`wood_proposal` at the accepted :math:`\varepsilon`, so autograd
    gives :math:`\partial w/\partial\kappa` at fixed :math:`\varepsilon`: the estimator that
    drops the score-function correction of Naesseth et al. (2017), as the S-VAE authors' public
    PyTorch code does. It is biased: see :func:`naive_wood_gradient_mean_w`.

    Args:
        kappa: scalar float64 tensor > 0 (may require grad).
        d: ambient dimension >= 2.
        n: number of draws.
        rng: numpy random generator (fixes the draws).
    """
    alpha = 0.5 * (d - 1)
    k = kappa.detach()
    eps = np.empty(n)
    proposals = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    for _ in range(max_rounds):
        if pending.size == 0:
            break
        proposals[pending] += 1
        e = torch.from_numpy(rng.beta(alpha, alpha, size=pending.size))
        log_u = torch.from_numpy(np.log(rng.random(pending.size)))
        accepted = (log_u <= wood_log_accept(wood_proposal(e, k, d), k, d)).numpy()
        eps[pending[accepted]] = e.numpy()[accepted]
        pending = pending[~accepted]
    if pending.size:
        raise RuntimeError(f"Wood's sampler did not finish in {max_rounds} rounds")
    eps_t = torch.from_numpy(eps)
    return WoodDraws(wood_proposal(eps_t, kappa, d), eps_t, torch.from_numpy(proposals))


def naive_wood_gradient_mean_w(kappa: float, d: int, nodes: int = 256) -> float:
    r"""Expectation of the naive (proposal-reparameterisation-only) estimator of
    :math:`\frac{d}{d\kappa}E[w]`, exactly, by quadrature over the accepted :math:`\varepsilon`:

    .. math:: E_{\pi}\Big[\frac{\partial w(\varepsilon,\kappa)}{\partial\kappa}\Big], \qquad
              \pi(\varepsilon) \propto \varepsilon^{m/2-1}(1-\varepsilon)^{m/2-1}
              a\big(w(\varepsilon, \kappa)\big),

    computed with :math:`\varepsilon = \sin^2(\phi/2)`, which turns the Beta weight into
    :math:`\sin^{m-1}\phi\, d\phi` (smooth for all d), and Gauss-Legendre in
    :math:`\phi \in [0, \pi]`. The true derivative is :math:`A_d'(\kappa)`
    (:func:`mean_resultant_length_derivative`); the difference is the bias of dropping the
    correction term.
    """
    kappa, d = _check(kappa, d)
    x, wts = _gauss_legendre(nodes)
    phi = torch.from_numpy(0.5 * math.pi * (x + 1))
    eps = torch.sin(0.5 * phi) ** 2
    k = torch.full_like(eps, kappa, requires_grad=True)
    omw = wood_proposal(eps, k, d)
    (d_omw,) = torch.autograd.grad(omw.sum(), k)
    with torch.no_grad():
        log_weight = (d - 2) * torch.log(torch.sin(phi)) + wood_log_accept(omw, k, d)
        weight = torch.exp(log_weight - log_weight.max()) * torch.from_numpy(wts)
    return float(-(weight * d_omw).sum() / weight.sum())


def mean_resultant_length_derivative(kappa, d: int) -> torch.Tensor:
    r""":math:`A_d'(\kappa) = 1 - A_d^2 - \frac{d-1}{\kappa}A_d`, with
    :math:`A_d = I_{d/2}/I_{d/2-1}` (d ambient): the derivative of :math:`E[w]` in
    :math:`\kappa`, which is also :math:`\mathrm{Var}(w)`. (From :math:`I_\nu' = I_{\nu+1} +
    \frac{\nu}{x} I_\nu` and :math:`I_{\nu-1} - I_{\nu+1} = \frac{2\nu}{x} I_\nu`.)

    Evaluated by differentiating :func:`hvae.special.iv_ratio`, whose derivative implements this
    formula without the cancellation of its three terms at large :math:`\kappa` (where
    :math:`A_d' \approx (d-1)/(2\kappa^2)`). float64 tensor of ``kappa``'s shape (> 0).
    """
    kappa = torch.as_tensor(kappa, dtype=torch.float64).detach().requires_grad_()
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(iv_ratio(0.5 * d, kappa).sum(), kappa)
    return grad


# --- the general mean direction ------------------------------------------------------------------


def tangent_projection(loc: torch.Tensor, w: torch.Tensor, sin_w: torch.Tensor,
                       g: torch.Tensor) -> torch.Tensor:
    r"""Map :math:`w` onto the sphere around ``loc`` through a projected Gaussian:

    .. math:: z = w\mu + \sqrt{1-w^2}\,
              \frac{(I - \mu\mu^\top) g}{\|(I - \mu\mu^\top) g\|},
              \qquad g \sim \mathcal{N}(0, I_d).

    :math:`(I - \mu\mu^\top) g` is a standard Gaussian of the hyperplane orthogonal to
    :math:`\mu`, so its direction is uniform on that hyperplane's unit sphere :math:`S^{d-2}`:
    the same law of :math:`z` as :func:`hvae.sampling.sample_vmf`, without a
    reflection, O(d) per draw. (The projection is 0 only when :math:`g \parallel \mu`, an
    event of probability 0.)

    Args:
        loc: unit mean directions, (..., d).
        w, sin_w: :math:`\langle\mu, z\rangle` and :math:`\sqrt{1-w^2}`, shape (...).
        g: standard Gaussian vectors, (..., d).
    """
    g_perp = g - (g * loc).sum(-1, keepdim=True) * loc
    v = g_perp / torch.linalg.vector_norm(g_perp, dim=-1, keepdim=True)
    return w.unsqueeze(-1) * loc + sin_w.unsqueeze(-1) * v


# --- the KL term's limits -----------------------------------------------------------------------


def kl_uniform_small_kappa(kappa, d: int):
    r"""Two terms of :math:`\mathrm{KL}(\mathrm{vMF}(\mu,\kappa)\,\|\,\mathcal U(S^{d-1}))` at
    small :math:`\kappa` (d ambient):

    .. math:: \frac{\kappa^2}{2d} - \frac{3\kappa^4}{4d^2(d+2)},

    from :math:`L = \frac{\kappa^2}{2d} - \frac{\kappa^4}{4d^2(d+2)} + O(\kappa^6)`,
    :math:`A_d = L'` and :math:`\mathrm{KL} = \kappa L' - L`. Error :math:`O(\kappa^6)`.
    Works on floats, numpy arrays and tensors."""
    return kappa**2 / (2 * d) - 3 * kappa**4 / (4 * d * d * (d + 2))


def kl_uniform_large_kappa(kappa, d: int):
    r"""Large-:math:`\kappa` expansion of the KL to the uniform law (d ambient):

    .. math:: \frac{d-1}{2}\log\frac{\kappa}{2\pi e} + \log|S^{d-1}| + \frac{(d-1)(d-3)}{4\kappa}
              + O(\kappa^{-2}),

    from :math:`\log I_\nu(\kappa) = \kappa - \frac12\log(2\pi\kappa) - \frac{4\nu^2-1}{8\kappa}
    + O(\kappa^{-2})`. The leading terms are :math:`\log|S^{d-1}|` minus the entropy of
    :math:`\mathcal N(0, I_{d-1}/\kappa)`: the vMF looks Gaussian in the tangent space.
    Works on floats and numpy arrays (use ``numpy.log``)."""
    return (0.5 * (d - 1) * np.log(kappa / (2 * math.pi * math.e)) + log_sphere_area(d)
            + (d - 1) * (d - 3) / (4 * kappa))
