r"""Independent reference implementations for the tests (mpmath, scipy, numpy; never ``hvae``).

Everything here is computed from textbook formulas at high precision, so that the tests compare
``hvae`` against something it does not share code with:

- :func:`log_iv`: :math:`\log I_v(x)` from ``mpmath.besseli`` (power series / asymptotics), and,
  where that raises ``NoConvergence`` (large order *and* argument, e.g. (1e4, 1e5)), from the
  Poisson integral :math:`I_v(x) = \frac{(x/2)^v}{\sqrt\pi\,\Gamma(v+1/2)}
  \int_0^\pi e^{x\cos t}\sin^{2v} t\,dt` evaluated with ``mpmath.quad`` in log space.
- :func:`log_rescaled`: :math:`\log[\Gamma(v+1)(2/x)^v I_v(x)] = \log {}_0F_1(;v+1;x^2/4)`, by its
  power series (no cancellation) for moderate ``x``.
- :func:`mean_resultant_length`: :math:`A_d(\kappa) = I_{d/2}(\kappa)/I_{d/2-1}(\kappa)` and its
  derivative, from the above.
- :func:`w_cdf_at_sorted`: the CDF of :math:`w = \langle\mu, z\rangle` of a vMF draw, evaluated
  at sorted sample points by Gauss-Legendre quadrature in the angle (for KS tests).
- :func:`wood_rejection`: Wood's rejection sampler as a plain loop over rounds with numpy random
  numbers, counting the proposals of each draw. It lives in :mod:`hvae.book` (chapter 3 of the
  book shows it too) and is imported from there. The one exception to "never ``hvae``": it
  evaluates the proposal and the acceptance test with :func:`hvae.wood.wood_proposal` and
  :func:`hvae.wood.wood_log_accept` (checked on their own against Wood's formulas retyped
  from the paper, in test_wood.py), so that its draws carry the naive gradient; the loop, the
  random numbers and the counting share nothing with :mod:`hvae.sampling`.

All mpmath values are cached (``functools.cache``), since several tests share them.
"""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

import mpmath as mp
import numpy as np
from scipy import integrate

from hvae.book import WoodDraws, mpmath_mean_resultant_length_derivative, wood_rejection  # noqa: F401,E501 (re-exported)

DPS = 30  # decimal digits for every mpmath computation here


# ----------------------------------------------------------------------------------------------
# Modified Bessel functions
# ----------------------------------------------------------------------------------------------


def poisson_log_iv(v, x, dps: int = DPS) -> mp.mpf:
    r""":math:`\log I_v(x)` from the Poisson integral, evaluated in log space.

    The integrand :math:`\exp \ell(t)`, :math:`\ell(t) = x\cos t + 2v\log\sin t`, peaks at
    :math:`\cos t^* = (\sqrt{v^2+x^2}-v)/x` with width :math:`1/\sqrt{-\ell''(t^*)}`,
    :math:`-\ell''(t^*) = x\cos t^* + 2v/\sin^2 t^*`; ``mp.quad`` is given split points at
    0, 1, 3, 10 and 40 widths either side of the peak so that it never misses it.
    """
    with mp.workdps(dps):
        v = mp.mpf(v)
        x = mp.mpf(x)
        cos_peak = (mp.sqrt(v * v + x * x) - v) / x
        peak = mp.acos(cos_peak)

        def ell(t):
            if 0 < t < mp.pi:
                return x * mp.cos(t) + 2 * v * mp.log(mp.sin(t))
            return x * mp.cos(t) if v == 0 else -mp.inf

        top = ell(peak) if 0 < peak < mp.pi else x
        curvature = x * mp.cos(peak) + (2 * v / mp.sin(peak) ** 2 if peak > 0 else 0)
        width = 1 / mp.sqrt(curvature)
        cuts = {mp.mpf(0), +mp.pi}
        for k in (-40, -10, -3, -1, 0, 1, 3, 10, 40):
            cuts.add(min(max(peak + k * width, mp.mpf(0)), +mp.pi))
        integral = mp.quad(lambda t: mp.exp(ell(t) - top), sorted(cuts))
        return (
            v * mp.log(x / 2)
            - mp.log(mp.pi) / 2
            - mp.loggamma(v + mp.mpf(1) / 2)
            + mp.log(integral)
            + top
        )


def besseli_log_iv(v, x) -> mp.mpf:
    """:math:`\\log I_v(x)` from ``mpmath.besseli``; may raise ``mpmath.libmp.NoConvergence``."""
    with mp.workdps(DPS):
        return mp.log(mp.besseli(mp.mpf(v), mp.mpf(x), maxterms=20000))


@cache
def log_iv(v: float, x: float) -> mp.mpf:
    """Reference :math:`\\log I_v(x)`, x > 0: ``mpmath.besseli``, else the Poisson integral."""
    try:
        return besseli_log_iv(v, x)
    except mp.libmp.NoConvergence:
        return poisson_log_iv(v, x)


@cache
def log_rescaled(v: float, x: float) -> mp.mpf:
    r""":math:`\log[\Gamma(v+1)(2/x)^v I_v(x)] = \log {}_0F_1(;v+1;x^2/4)`, relative accuracy.

    For :math:`x \le 1000` by summing the (positive) power series
    :math:`\sum_k (x^2/4)^k / (k!\,(v+1)_k)` and ``log1p`` of its tail, which keeps full relative
    precision as :math:`x \to 0` (value :math:`\approx x^2/(4(v+1))`). For larger ``x`` the value
    is at least :math:`\approx 1` (for v <= 1e4) and the three logarithms are combined at 30
    digits, losing at most ~6 of them to cancellation.
    """
    with mp.workdps(DPS):
        v, xm = mp.mpf(v), mp.mpf(x)
        if x <= 1000:
            q = xm * xm / 4
            term, tail, k = mp.mpf(1), mp.mpf(0), 0
            while True:
                k += 1
                term *= q / (k * (v + k))
                tail += term
                if k * (v + k) > q and term < tail * mp.mpf(10) ** (-DPS - 2):  # past the peak
                    break
            return mp.log1p(tail)
        return log_iv(float(v), x) + mp.loggamma(v + 1) - v * mp.log(xm / 2)


def iv_ratio(v: float, x: float) -> mp.mpf:
    """:math:`I_v(x) / I_{v-1}(x)` (any v > 0, including v < 1) from the reference log I."""
    with mp.workdps(DPS):
        if v >= 1:
            return mp.exp(log_iv(v, x) - log_iv(v - 1, x))
        # negative order v - 1 > -1: I_{v-1} is positive; mpmath evaluates it directly
        return mp.besseli(mp.mpf(v), mp.mpf(x)) / mp.besseli(mp.mpf(v) - 1, mp.mpf(x))


# ----------------------------------------------------------------------------------------------
# von Mises-Fisher quantities
# ----------------------------------------------------------------------------------------------


@cache
def mean_resultant_length(d: int, kappa: float) -> mp.mpf:
    r""":math:`A_d(\kappa) = I_{d/2}(\kappa) / I_{d/2-1}(\kappa) = E\langle\mu, z\rangle`."""
    return iv_ratio(d / 2, kappa)


@cache
def mean_resultant_length_derivative(d: int, kappa: float) -> mp.mpf:
    r""":math:`A_d'(\kappa)`, by ``mpmath.diff`` of :math:`A_d` computed from ``besseli``
    (:func:`hvae.book.mpmath_mean_resultant_length_derivative` at 30 digits: independent of the
    closed form :math:`1 - A^2 - (d-1)A/\kappa`, which the tests compare against it)."""
    return mpmath_mean_resultant_length_derivative(d, kappa, DPS)


def log_sphere_area(d: int) -> mp.mpf:
    r""":math:`\log|S^{d-1}| = \log(2\pi^{d/2}/\Gamma(d/2))`."""
    with mp.workdps(DPS):
        return mp.log(2) + mp.mpf(d) / 2 * mp.log(mp.pi) - mp.loggamma(mp.mpf(d) / 2)


@cache
def vmf_log_normalizer(d: int, kappa: float) -> mp.mpf:
    r""":math:`\log C_d(\kappa) = (d/2-1)\log\kappa - (d/2)\log 2\pi - \log I_{d/2-1}(\kappa)`."""
    with mp.workdps(DPS):
        k = mp.mpf(kappa)
        nu = mp.mpf(d) / 2 - 1
        return nu * mp.log(k) - mp.mpf(d) / 2 * mp.log(2 * mp.pi) - log_iv(float(nu), kappa)


def vmf_kl_to_uniform(d: int, kappa: float) -> mp.mpf:
    r""":math:`KL = \kappa A_d + \log C_d + \log|S^{d-1}|`.

    For :math:`\kappa \le 1000` as :math:`\kappa A_d - \log {}_0F_1(;d/2;\kappa^2/4)` (the
    last two terms of the definition combined analytically, then summed as a series by
    :func:`log_rescaled`): for large d and tiny kappa the definition cancels terms of size
    ~d log d down to KL ~ kappa^2/(2d), which even 30 digits do not resolve to 1e-12. Above,
    :func:`vmf_exact` (at 30 digits the definition loses log10(kappa) of them: 1.5e-10 relative
    at d = 5, kappa = 1e12).
    """
    with mp.workdps(DPS):
        if kappa <= 1000:
            return mp.mpf(kappa) * mean_resultant_length(d, kappa) - log_rescaled(d / 2 - 1,
                                                                                   kappa)
        return vmf_exact(d, kappa).kl  # 40 digits beyond the cancellation of kappa A - L


def vmf_kl_to_uniform_by_definition(d: int, kappa: float) -> mp.mpf:
    r""":math:`\kappa A_d + \log C_d + \log|S^{d-1}|` term by term, at 30 digits."""
    with mp.workdps(DPS):
        return (
            mp.mpf(kappa) * mean_resultant_length(d, kappa)
            + vmf_log_normalizer(d, kappa)
            + log_sphere_area(d)
        )


class VmfExact(NamedTuple):
    """The vMF's scalar quantities at high precision (``mpf``): see :func:`vmf_exact`."""

    log_normalizer: mp.mpf
    log_mode: mp.mpf  # log density at the mode, log C_d + kappa
    entropy: mp.mpf
    kl: mp.mpf


def _hankel_log_ie(v, x, terms: int = 30):
    r""":math:`\log(e^{-x} I_v(x))` by Hankel's expansion (DLMF 10.40.1),
    :math:`-\tfrac12\log(2\pi x) + \log\sum_k (-1)^k a_k(v) x^{-k}`,
    :math:`a_k(v) = \prod_{j=1}^k (4v^2 - (2j-1)^2) / (k!\, 8^k)`; for x >= 1e6 (v+1)^2, where
    the k-th term is below (v+1)^{2k} / (2 x)^k: 30 terms leave nothing at 40 digits."""
    total, term = mp.mpf(1), mp.mpf(1)
    for k in range(1, terms + 1):
        term *= -(4 * v * v - (2 * k - 1) ** 2) / (k * 8 * x)
        total += term
    return -mp.log(2 * mp.pi * x) / 2 + mp.log(total)


@cache
def vmf_exact(d: int, kappa: float) -> VmfExact:
    r"""log C_d, the log density at the mode, the entropy and the KL to the uniform law of
    vMF(mu, kappa) on S^{d-1} (d ambient), from textbook formulas at 40 digits beyond the
    cancellations (kappa A - L loses log10(kappa) digits):

    - up to kappa = 1e6 (v+1)^2 (v = d/2 - 1) from ``mpmath.besseli`` of orders v and v + 1 at
      40 + log10(kappa) digits (the Poisson integral where besseli does not converge), with
      L = log I_v + log Gamma(v+1) - v log(kappa/2), A = I_{v+1}/I_v, KL = kappa A - L;
    - above, from Hankel's expansion of e^{-x} I_v(x), which needs no extra digits:
      kappa - L = -log(e^{-kappa} I_v) - log Gamma(v+1) + v log(kappa/2) and
      1 - A = 1 - e^{-kappa} I_{v+1} / (e^{-kappa} I_v), KL = (kappa - L) - kappa (1 - A).

    Then log C_d = -L - log|S^{d-1}|, log C_d + kappa = (kappa - L) - log|S^{d-1}|,
    H = log|S^{d-1}| - KL.
    """
    digits = 40 + max(0, int(math.log10(kappa)))
    with mp.workdps(digits):
        k, v = mp.mpf(kappa), mp.mpf(d) / 2 - 1
        log_area = mp.log(2) + (v + 1) * mp.log(mp.pi) - mp.loggamma(v + 1)
        scale = v * mp.log(k / 2) - mp.loggamma(v + 1)
        if kappa >= 1e6 * (float(v) + 1) ** 2:
            log_ie, log_ie_next = _hankel_log_ie(v, k), _hankel_log_ie(v + 1, k)
            complement = scale - log_ie
            rescaled = k - complement
            kl = complement - k * (1 - mp.exp(log_ie_next - log_ie))
        else:
            log_i, log_i_next = (_log_iv_at(order, k, digits) for order in (v, v + 1))
            rescaled = log_i - scale
            complement = k - rescaled
            kl = k * mp.exp(log_i_next - log_i) - rescaled
        return VmfExact(-rescaled - log_area, complement - log_area, log_area - kl, kl)


def _log_iv_at(v, x, digits: int):
    try:
        return mp.log(mp.besseli(v, x, maxterms=20000))
    except mp.libmp.NoConvergence:
        return poisson_log_iv(v, x, dps=digits)


@cache
def w_moment(d: int, kappa: float, power: int) -> mp.mpf:
    r""":math:`E[w^p]` for the vMF marginal :math:`f(w) \propto e^{\kappa w}(1-w^2)^{(d-3)/2}`,
    by ``mpmath.quad`` over :math:`w \in [-1, 1]` (tanh-sinh handles the endpoint behaviour)."""
    with mp.workdps(DPS):
        k = mp.mpf(kappa)
        e = (mp.mpf(d) - 3) / 2

        def g(w):
            return mp.exp(k * (w - 1)) * (1 - w * w) ** e

        pts = [-1, 0, 1] if kappa < 50 else [-1, 1 - 40 / k, 1 - 10 / k, 1 - 1 / k, 1]
        return mp.quad(lambda w: w**power * g(w), pts) / mp.quad(g, pts)


# ----------------------------------------------------------------------------------------------
# The CDF of w for KS tests
# ----------------------------------------------------------------------------------------------

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(20)


def _log_theta_density(theta: np.ndarray, d: int, kappa: float, shift: float) -> np.ndarray:
    r""":math:`\kappa(\cos\theta - 1) + (d-2)\log\sin\theta - \text{shift}` (unnormalised log
    density of the angle between a vMF draw and its mean direction)."""
    out = -2 * kappa * np.sin(theta / 2) ** 2 - shift
    if d > 2:
        out = out + (d - 2) * np.log(np.sin(theta))
    return out


def _theta_mode(d: int, kappa: float) -> float:
    """Mode of the angle density: cos t = 2 kappa / ((d-2) + sqrt((d-2)^2 + 4 kappa^2))."""
    return math.acos(2 * kappa / ((d - 2) + math.sqrt((d - 2) ** 2 + 4 * kappa * kappa)))


def w_cdf_at_sorted(theta_sorted: np.ndarray, d: int, kappa: float) -> tuple[np.ndarray, float]:
    r"""CDF of the angle :math:`\theta = \arccos w` at sorted sample angles, and a closure check.

    The density of :math:`\theta \in [0, \pi]` is proportional to
    :math:`e^{\kappa\cos\theta}\sin^{d-2}\theta`, smooth for every d >= 2. The mass of
    :math:`[0, \theta_{(1)}]` and of :math:`[\theta_{(n)}, \pi]` comes from ``scipy.integrate.quad``
    (adaptive, tight tolerances); the mass between consecutive sorted angles from a 20-point
    Gauss-Legendre rule per interval (vectorised; the intervals are far narrower than the
    density's scale, so the rule is exact to rounding). The total is normalised by the
    closed form :math:`\int_0^\pi e^{\kappa\cos t}\sin^{2\nu} t\,dt
    = \sqrt\pi\,\Gamma(\nu+\tfrac12)(2/\kappa)^\nu I_\nu(\kappa)`, :math:`\nu = (d-2)/2`, with
    :math:`I_\nu` from :func:`log_iv` (mpmath).

    Returns ``(cdf, closure)`` where ``closure`` is the relative difference between the sum of
    all pieces (including the upper tail) and the closed-form total; it should be ~1e-10 or less.
    """
    t = np.asarray(theta_sorted, dtype=np.float64)
    mode = _theta_mode(d, kappa)
    shift = float(_log_theta_density(np.array([mode]), d, kappa, 0.0)[0]) if mode > 0 else 0.0

    def density(s):
        return math.exp(_log_theta_density(np.array([s]), d, kappa, shift)[0])

    # local width of the density at its mode, for quad's break points
    sin2 = math.sin(mode) ** 2
    curvature = kappa * math.cos(mode) + ((d - 2) / sin2 if sin2 > 0 else 0.0)
    width = 1 / math.sqrt(curvature)
    breaks = sorted({min(max(mode + k * width, 0.0), math.pi) for k in (-20, -5, -1, 0, 1, 5, 20)})

    def tail(a, b):
        pts = [p for p in breaks if a < p < b]
        val, _ = integrate.quad(density, a, b, points=pts or None, epsabs=0, epsrel=1e-12,
                                limit=500)
        return val

    lower = tail(0.0, t[0])
    upper = tail(t[-1], math.pi)
    a, b = t[:-1, None], t[1:, None]
    nodes = 0.5 * (b - a) * (_GL_NODES + 1) + a
    pieces = 0.5 * (b - a)[:, 0] * (_GL_WEIGHTS * np.exp(_log_theta_density(nodes, d, kappa,
                                                                             shift))).sum(-1)
    cum = lower + np.concatenate([[0.0], np.cumsum(pieces)])
    with mp.workdps(DPS):
        nu = mp.mpf(d - 2) / 2
        log_total = (  # of exp(kappa cos t) sin^{2 nu} t over [0, pi]
            mp.log(mp.pi) / 2
            + mp.loggamma(nu + mp.mpf(1) / 2)
            + nu * mp.log(2 / mp.mpf(kappa))
            + log_iv(float(nu), kappa)
        )
        # the density above is that times exp(-kappa - shift)
        total = float(mp.exp(log_total - mp.mpf(kappa) - mp.mpf(shift)))
    closure = abs(cum[-1] + upper - total) / total
    return cum / total, closure


# ----------------------------------------------------------------------------------------------
# The concentration from the mean resultant length (the inverse of A_d)
# ----------------------------------------------------------------------------------------------


def gap_by_integral(d: int, kappa: float) -> mp.mpf:
    r""":math:`1 - A_d(\kappa) = E[1 - w]` by quadrature, with nothing cancelling.

    With :math:`s = 1 - w \in [0, 2]` the marginal of a vMF draw has density
    :math:`\propto e^{-\kappa s}\,[s(2-s)]^{a}`, :math:`a = (d-3)/2`, so
    :math:`1 - A_d = \int s\,e^{\ell(s)} ds / \int e^{\ell(s)} ds`,
    :math:`\ell(s) = -\kappa s + a\log(s(2-s))`: a ratio of two integrals of positive functions.
    For :math:`a > 0` the integrand peaks at :math:`s^* = 2a/(\kappa + a + \sqrt{\kappa^2 + a^2})`
    with width :math:`(a/s^{*2} + a/(2-s^*)^2)^{-1/2}`; otherwise it decays from
    :math:`s = 0` on the scale :math:`1/\kappa`. ``mp.quad`` is given split points at 0, 1, 3,
    10 and 40 such widths either side of the peak.
    """
    with mp.workdps(DPS):
        k, a = mp.mpf(kappa), (mp.mpf(d) - 3) / 2
        if a > 0:
            mode = 2 * a / (k + a + mp.sqrt(k * k + a * a))
            width = 1 / mp.sqrt(a / mode**2 + a / (2 - mode) ** 2)
        else:
            mode, width = mp.mpf(0), 1 / k

        def ell(s):
            return -k * s + a * mp.log(s * (2 - s))

        top = ell(mode) if a > 0 else mp.mpf(0)
        cuts = {mp.mpf(0), mp.mpf(2)}
        for j in (-40, -10, -3, -1, 0, 1, 3, 10, 40):
            cuts.add(min(max(mode + j * width, mp.mpf(0)), mp.mpf(2)))
        cuts = sorted(cuts)
        # the endpoints 0 and 2 are never evaluated by tanh-sinh quadrature
        mass = mp.quad(lambda s: mp.exp(ell(s) - top), cuts)
        first = mp.quad(lambda s: s * mp.exp(ell(s) - top), cuts)
        return first / mass


@cache
def mean_resultant_length_and_gap(d: int, kappa: float) -> tuple[mp.mpf, mp.mpf]:
    r"""(:math:`A_d(\kappa)`, :math:`1 - A_d(\kappa)`), each to full relative precision.

    From ``mpmath.besseli`` at 40 digits (the gap then has ~25 correct digits even at
    :math:`\kappa = 10^{12}`, where it is ~1e-12); where ``besseli`` does not converge (orders
    ~5000 with arguments ~1e4 to 1e5), from :func:`gap_by_integral` (there A > 0.1).
    """
    with mp.workdps(40):
        v, x = mp.mpf(d) / 2, mp.mpf(kappa)
        try:
            ratio = mp.besseli(v, x, maxterms=6000) / mp.besseli(v - 1, x, maxterms=6000)
            return ratio, 1 - ratio
        except mp.libmp.NoConvergence:
            gap = gap_by_integral(d, kappa)
            return 1 - gap, gap


@cache
def kappa_root(d: int, r: float) -> mp.mpf:
    r"""The root :math:`\kappa` of :math:`A_d(\kappa) = r` by ``mpmath.findroot`` (secant).

    Solved as :math:`A_d(\kappa)/r - 1 = 0` for r < 1/2 and :math:`(1 - A_d(\kappa))/(1 - r) - 1
    = 0` above (relative residuals, so that the tolerance means the same thing for r ~ 1e-6 and
    for 1 - r ~ 1e-8), from Banerjee et al.'s approximation :math:`r(d - r^2)/(1 - r^2)` and
    1.001 times it, until a step is below 1e-28 relative; ``findroot`` then verifies the
    residual (below 1e-14) before returning.
    """
    with mp.workdps(40):
        rm = mp.mpf(r)
        if rm < 0.5:

            def f(k):
                return mean_resultant_length_and_gap(d, k)[0] / rm - 1
        else:

            def f(k):
                return mean_resultant_length_and_gap(d, k)[1] / (1 - rm) - 1

        start = rm * (d - rm * rm) / (1 - rm * rm)
        return mp.findroot(f, (start, start * mp.mpf("1.001")), tol=mp.mpf(10) ** -28)
