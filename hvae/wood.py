r"""Wood's (1994) rejection sampler for the vMF, analysed: its proposal, acceptance probability
and the bias of the gradient that ignores the rejection step.

The sampler itself is :func:`hvae.sampling.sample_one_minus_w`, and the envelope parameters
:math:`(b, x_0, c)` it uses are :func:`hvae.sampling.wood_envelope`; this module holds the
formulas that describe the sampler rather than run it. ``d`` is the *ambient* dimension, as
everywhere in ``hvae``.

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
"""

from __future__ import annotations

import math

import torch

from hvae._kernels import gauss_legendre
from hvae._validation import check_dim, check_number
from hvae.distributions.uniform import log_sphere_area
from hvae.sampling import wood_envelope
from hvae.special import bessel_terms

__all__ = [
    "naive_wood_gradient_mean_w",
    "wood_acceptance_probability",
    "wood_log_accept",
    "wood_proposal",
]


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

    .. math::
       \log P_{\mathrm{acc}} &= \log 2 + \tfrac m2\log b - m\log(1+b) - c \\
       &\quad - \log B(\tfrac m2, \tfrac m2) + L(\kappa) + \log|S^{d-1}| - \log|S^{d-2}|,

    :math:`m = d - 1` (d ambient). It is 1 at :math:`\kappa = 0` and falls with
    :math:`\kappa` to a limit that depends on d (about 0.66 for d = 2, 0.71 for d = 1000).
    The O(kappa) terms of :math:`L` and :math:`c` are cancelled analytically.
    ``kappa``: float or float64 tensor (>= 0); returns a float64 tensor of its shape.
    """
    kappa = torch.as_tensor(kappa, dtype=torch.float64)
    m = d - 1
    b, x0, _ = wood_envelope(kappa, d)
    complement = bessel_terms(0.5 * d - 1, kappa).complement  # kappa - L, without cancellation
    log_beta = 2 * math.lgamma(0.5 * m) - math.lgamma(m)
    # L(kappa) - c without the O(kappa) cancellation: L - kappa x0 = (L - kappa) + kappa(1 - x0)
    l_minus_c = -complement + kappa * 2 * b / (1 + b) - m * torch.log(4 * b / (1 + b) ** 2)
    log_p = (math.log(2) + 0.5 * m * torch.log(b) - m * torch.log1p(b) - log_beta + l_minus_c
             + log_sphere_area(d) - log_sphere_area(d - 1))
    return torch.exp(log_p)


def naive_wood_gradient_mean_w(kappa: float, d: int, nodes: int = 256) -> float:
    r"""Expectation of the naive (proposal-reparameterisation-only) estimator of
    :math:`\frac{d}{d\kappa}E[w]`, exactly, by quadrature over the accepted :math:`\varepsilon`:

    .. math:: E_{\pi}\Big[\frac{\partial w(\varepsilon,\kappa)}{\partial\kappa}\Big], \qquad
              \pi(\varepsilon) \propto \varepsilon^{m/2-1}(1-\varepsilon)^{m/2-1}
              a\big(w(\varepsilon, \kappa)\big),

    computed with :math:`\varepsilon = \sin^2(\phi/2)`, which turns the Beta weight into
    :math:`\sin^{m-1}\phi\, d\phi` (smooth for all d), and Gauss-Legendre in
    :math:`\phi \in [0, \pi]`. The true derivative is :math:`A_d'(\kappa)`
    (:func:`hvae.special.iv_ratio_derivative` at :math:`v = d/2`); the difference is the bias
    of dropping the correction term.
    """
    kappa, d = check_number(kappa, "kappa", nonnegative=True), check_dim(d, "d")
    x, wts = gauss_legendre(nodes)
    phi = torch.from_numpy(0.5 * math.pi * (x + 1))
    eps = torch.sin(0.5 * phi) ** 2
    k = torch.full_like(eps, kappa, requires_grad=True)
    omw = wood_proposal(eps, k, d)
    (d_omw,) = torch.autograd.grad(omw.sum(), k)
    with torch.no_grad():
        log_weight = (d - 2) * torch.log(torch.sin(phi)) + wood_log_accept(omw, k, d)
        weight = torch.exp(log_weight - log_weight.max()) * torch.from_numpy(wts)
    return float(-(weight * d_omw).sum() / weight.sum())
