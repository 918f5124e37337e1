"""Tests for hvae.circular: closed-form cases of the circular correlation and the winding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hvae.circular import circular_correlation, winding


def _mixture_angles(n: int, seed: int) -> np.ndarray:
    """Angles like the Figure 1 data: three von Mises components 120 degrees apart."""
    rng = np.random.default_rng(seed)
    means = np.array([0.0, 2 * math.pi / 3, -2 * math.pi / 3])
    k = rng.integers(0, 3, size=n)
    return rng.vonmises(means[k], np.array([20.0, 10.0, 5.0])[k])


@pytest.mark.parametrize("shift", [0.0, 1.0, -2.5, 10.0])
def test_rotation_and_reflection_give_plus_minus_one(shift):
    theta = _mixture_angles(500, seed=0)
    assert circular_correlation(theta, theta + shift) == pytest.approx(1.0, abs=1e-12)
    assert circular_correlation(theta, shift - theta) == pytest.approx(-1.0, abs=1e-12)
    # invariance to adding whole turns and to rotating the first argument
    assert circular_correlation(theta + 2 * math.pi * 3, theta + shift) == pytest.approx(1.0)
    assert circular_correlation(theta + 0.7, shift - theta) == pytest.approx(-1.0)


def test_symmetric_in_its_arguments():
    rng = np.random.default_rng(1)
    theta = rng.uniform(-math.pi, math.pi, 300)
    phi = theta + rng.normal(0.0, 0.5, 300)
    assert circular_correlation(theta, phi) == pytest.approx(circular_correlation(phi, theta))


def test_independent_angles_give_small_rho():
    """Under independence with uniform margins n rho is asymptotically Laplace(0, 1), so
    P(n |rho| > 10) is about exp(-10) = 4.5e-5 (threshold 10 on the Laplace "z"); fixed seed."""
    rng = np.random.default_rng(2)
    n = 2000
    for _ in range(20):
        theta, phi = rng.uniform(-math.pi, math.pi, (2, n))
        assert n * abs(circular_correlation(theta, phi)) < 10.0


def test_independent_laplace_scale():
    """The null distribution: E|n rho| is about 1 (the mean of |Laplace(0, 1)|)."""
    rng = np.random.default_rng(3)
    n = 500
    stats = [n * abs(circular_correlation(*rng.uniform(-math.pi, math.pi, (2, n))))
             for _ in range(400)]
    # 400 draws of an Exp(1)-like variable: standard error of the mean about 0.05
    assert abs(np.mean(stats) - 1.0) < 0.25


def test_noisy_rotation_is_between():
    """phi = theta + N(0, s^2) with theta uniform: rho_T = E[cos(e1 - e2)] = exp(-s^2)."""
    rng = np.random.default_rng(4)
    n, s = 20000, 0.5
    theta = rng.uniform(-math.pi, math.pi, n)
    rho = circular_correlation(theta, theta + rng.normal(0.0, s, n))
    assert rho == pytest.approx(math.exp(-(s**2)), abs=0.02)


def test_degenerate_and_bad_input():
    assert math.isnan(circular_correlation(np.zeros(5), np.arange(5.0)))
    with pytest.raises(ValueError, match="shapes differ"):
        circular_correlation(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        circular_correlation(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        circular_correlation(np.array([0.0, np.nan]), np.zeros(2))


def test_winding_of_rotation_reflection_and_double_cover():
    theta = np.random.default_rng(5).uniform(-math.pi, math.pi, 3000)
    w = winding(theta, theta + 1.0)
    assert (w.number, w.monotone_fraction, w.bins_used) == (1, 1.0, 36)
    w = winding(theta, -theta)
    assert (w.number, w.monotone_fraction) == (-1, 1.0)
    assert winding(theta, 2 * theta).number == 2
    # a monotone but non-uniform warp still winds once, monotonically
    w = winding(theta, theta + 0.8 * np.sin(theta))
    assert (w.number, w.monotone_fraction) == (1, 1.0)


def test_winding_of_a_collapsed_or_folded_code():
    theta = np.random.default_rng(6).uniform(-math.pi, math.pi, 3000)
    # folded: phi goes out and back (|theta|), net winding 0
    w = winding(theta, np.abs(theta) / 2)
    assert w.number == 0 and w.monotone_fraction == pytest.approx(0.5, abs=0.1)
    with pytest.raises(ValueError, match="bins"):
        winding(np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match="n_bins"):
        winding(theta, theta, n_bins=2)


def test_lon_lat_of_known_points():
    from hvae.circular import lon_lat

    u = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, -1.0, 0], [-1.0, 0, 1e-17]])
    lon, lat = lon_lat(u)
    assert np.allclose(lon, [0, np.pi / 2, 0, -np.pi / 2, np.pi])
    assert np.allclose(lat, [0, 0, np.pi / 2, 0, 0])
    assert lon_lat(np.array([0, 0, 1 + 1e-15]))[1] == np.pi / 2  # clipped, not nan
    with pytest.raises(ValueError, match="3 coordinates"):
        lon_lat(np.ones((4, 2)))
