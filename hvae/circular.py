r"""Circular statistics for comparing two sets of angles (the latent circle of Figure 1).

Two questions about a learned latent angle :math:`\phi_i` (e.g. ``atan2(z_2, z_1)`` of a code)
against the true angle :math:`\theta_i` of the same example:

* :func:`circular_correlation`: the circular-circular correlation of
  Fisher and Lee (1983, Biometrika 70, 327-332; their :math:`\rho_T`). Its population value is

  .. math::
     \rho_T = \frac{E[\sin(\theta_1 - \theta_2) \sin(\phi_1 - \phi_2)]}
                   {\sqrt{E[\sin^2(\theta_1 - \theta_2)]\, E[\sin^2(\phi_1 - \phi_2)]}}

  for two independent draws :math:`(\theta_1, \phi_1), (\theta_2, \phi_2)`; it lies in
  [-1, 1], needs no mean direction (which is ill-defined for a symmetric mixture), is
  invariant to rotating either set of angles, equals +1 when :math:`\phi = \theta + c` and -1
  when :math:`\phi = -\theta + c` (a reflection), and is 0 when the two are independent and one
  is uniform. The sample version sums over all pairs; with :math:`u_i = (\cos\theta_i,
  \sin\theta_i)`, :math:`v_i = (\cos\phi_i, \sin\phi_i)` and the 2x2 matrices
  :math:`S_{uv} = \sum_i u_i v_i^\top` it is :math:`\det S_{uv} / \sqrt{\det S_{uu} \det S_{vv}}`,
  an O(n) formula. Under independence with uniform margins :math:`n \hat\rho_T` is
  asymptotically Laplace(0, 1) (a difference of two products of independent standard normals),
  so :math:`P(n|\hat\rho_T| > t) \approx e^{-t}`: a z-like test rejects independence at
  level :math:`\alpha` when :math:`n|\hat\rho_T| > \log(1/\alpha)`.
* :func:`winding`: how many times, and how monotonically, the latent angle goes round the
  circle as the true angle goes round once, from the circular means of the latent angle in bins
  of the true angle. A latent space that keeps the circle has winding number +1 or -1 and
  moves in one direction from bin to bin.

Angles are in radians; any real values are accepted (they are used through cos and sin).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["Winding", "circular_correlation", "lon_lat", "winding"]


def _angles(a: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64)
    if out.ndim != 1 or out.size < 2:
        raise ValueError(f"{name}: must be a 1-D array of at least 2 angles, got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: must be finite")
    return out


def circular_correlation(theta: np.ndarray, phi: np.ndarray) -> float:
    r"""Fisher and Lee's circular-circular correlation :math:`\hat\rho_T` of two angle arrays.

    Args:
        theta, phi: paired angles in radians, 1-D arrays of the same length ``n >= 2``.

    Returns:
        :math:`\hat\rho_T \in [-1, 1]`: ``+1`` for a rotation ``phi = theta + c``, ``-1`` for a
        reflection ``phi = c - theta``, near 0 (of order ``1 / n``) for independent angles.
        ``nan`` when either set has no spread (all angles equal or opposite).

    Raises:
        ValueError: for arrays of different shapes, not 1-D, shorter than 2, or not finite.
    """
    theta, phi = _angles(theta, "theta"), _angles(phi, "phi")
    if theta.shape != phi.shape:
        raise ValueError(f"theta, phi: shapes differ: {theta.shape} vs {phi.shape}")
    u = np.stack([np.cos(theta), np.sin(theta)])  # (2, n)
    v = np.stack([np.cos(phi), np.sin(phi)])
    num = np.linalg.det(u @ v.T)
    den2 = np.linalg.det(u @ u.T) * np.linalg.det(v @ v.T)
    if not den2 > 0:
        return math.nan
    return float(np.clip(num / math.sqrt(den2), -1.0, 1.0))


class Winding(NamedTuple):
    """Result of :func:`winding`."""

    number: int  #: net turns of the latent angle while the true angle turns once (+ or -)
    monotone_fraction: float  #: fraction of bin-to-bin steps taken in the net direction
    bins_used: int  #: bins of the true angle that held at least ``min_count`` points


def winding(theta: np.ndarray, phi: np.ndarray, n_bins: int = 36, min_count: int = 3) -> Winding:
    r"""Winding number of the latent angle ``phi`` as the true angle ``theta`` goes round once.

    ``theta`` is cut into ``n_bins`` equal bins on [-pi, pi); in each bin holding at least
    ``min_count`` points the latent angles are summarised by their circular mean. Going round
    the used bins in order (and back to the first), each step is the difference of consecutive
    means wrapped to (-pi, pi]; the steps add up to ``2 pi`` times an integer, the winding
    number. ``monotone_fraction`` is the fraction of steps whose sign is that of the winding
    number (of the larger of the two sums of positive and negative steps when the number is 0):
    1 means the binned latent angle is a monotone function of the true angle.

    Raises:
        ValueError: for bad arrays (as :func:`circular_correlation`), ``n_bins < 3``,
            ``min_count < 1``, or fewer than 3 usable bins.
    """
    theta, phi = _angles(theta, "theta"), _angles(phi, "phi")
    if theta.shape != phi.shape:
        raise ValueError(f"theta, phi: shapes differ: {theta.shape} vs {phi.shape}")
    if not isinstance(n_bins, int) or n_bins < 3:
        raise ValueError(f"n_bins: must be an integer >= 3, got {n_bins!r}")
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count: must be a positive integer, got {min_count!r}")
    wrapped = np.mod(theta + math.pi, 2 * math.pi)  # [0, 2 pi)
    index = np.minimum((wrapped / (2 * math.pi) * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    cos_sum = np.bincount(index, weights=np.cos(phi), minlength=n_bins)
    sin_sum = np.bincount(index, weights=np.sin(phi), minlength=n_bins)
    used = counts >= min_count
    if used.sum() < 3:
        raise ValueError(f"only {int(used.sum())} bins hold >= {min_count} points; need 3")
    means = np.arctan2(sin_sum[used], cos_sum[used])
    steps = np.angle(np.exp(1j * (np.roll(means, -1) - means)))  # wrapped to (-pi, pi]
    number = int(round(steps.sum() / (2 * math.pi)))
    if number != 0:
        sign = float(np.sign(number))
    else:
        sign = 1.0 if steps[steps > 0].sum() >= -steps[steps < 0].sum() else -1.0
    return Winding(number, float(np.mean(np.sign(steps) == sign)), int(used.sum()))


def lon_lat(u) -> tuple[np.ndarray, np.ndarray]:
    """Longitude atan2(u_2, u_1) and latitude arcsin(u_3), in radians, of unit vectors ``u``
    (..., 3) of R^3: the coordinates a map projection of S^2 (e.g. Mollweide) takes."""
    u = np.asarray(u, dtype=np.float64)
    if u.shape[-1] != 3:
        raise ValueError(f"u: must have 3 coordinates in its last axis, got shape {u.shape}")
    return np.arctan2(u[..., 1], u[..., 0]), np.arcsin(np.clip(u[..., 2], -1.0, 1.0))
