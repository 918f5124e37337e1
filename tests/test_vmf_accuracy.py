"""The vMF's log-normaliser, log density at the mode, entropy and KL at every concentration a
float64 can hold, against mpmath (tests/reference.py ``vmf_exact``, 40 digits beyond the
cancellations): relative error <= 1e-13 (absolute where the value is below 1) in float64, and
float32 within 10 float32 eps of the correctly rounded value. ``benchmarks/accuracy.py`` prints
the same on a finer grid."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
import torch
from torch.distributions import kl_divergence

from hvae.distributions import HypersphericalUniform, VonMisesFisher

# every 2.5 decades from 1e-8 to 1e300, off round numbers (so no point sits on a threshold)
KAPPAS = 10.0 ** np.arange(-8.0, 300.1, 2.5) * 1.0371
DIMS = [2, 3, 5, 10, 31, 100, 1000, 10000]


def hvae_scalars(d: int, kappas: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """(4, n): log C_d, log q(mode), entropy and KL from hvae at ``kappas`` in ``dtype``."""
    kappa = torch.tensor(kappas, dtype=dtype)
    loc = torch.zeros(len(kappas), d, dtype=dtype)
    loc[:, 0] = 1
    q = VonMisesFisher(loc, kappa, validate_args=False)
    rows = (q.log_normalizer(), q.log_prob(loc), q.entropy(),
            kl_divergence(q, HypersphericalUniform(d, dtype=dtype)))
    return np.stack([r.double().numpy() for r in rows])


def exact_scalars(d: int, kappas: np.ndarray) -> np.ndarray:
    """The same four from :func:`reference.vmf_exact`, as floats."""
    return np.array([[float(v) for v in ref.vmf_exact(d, float(k))] for k in kappas]).T


@pytest.mark.parametrize("d", DIMS)
def test_float64_within_1e13_of_mpmath(d: int) -> None:
    exact = exact_scalars(d, KAPPAS)
    err = np.abs(hvae_scalars(d, KAPPAS, torch.float64) - exact) / np.maximum(1, np.abs(exact))
    bad = np.argwhere(err > 1e-13)
    assert bad.size == 0, [(("log C", "mode", "H", "KL")[i], KAPPAS[j], err[i, j])
                           for i, j in bad]


@pytest.mark.parametrize("d", DIMS)
def test_float32_within_10_eps_of_the_rounded_value(d: int) -> None:
    k32 = torch.tensor(KAPPAS[KAPPAS < 3e38], dtype=torch.float32).double().numpy()
    exact = torch.tensor(exact_scalars(d, k32)).float().double().numpy()
    err = np.abs(hvae_scalars(d, k32, torch.float32) - exact) / np.maximum(1, np.abs(exact))
    assert err.max() <= 10 * np.finfo(np.float32).eps


@pytest.mark.parametrize("d", [2, 3, 10, 1000])
def test_large_kappa_values_grow_like_half_log_kappa_per_dimension(d: int) -> None:
    """Where the old forms returned KL = 0 and entropy = 0 (kappa >= 1e18): the KL keeps its
    slope (d - 1)/2 in log kappa, measured between two concentrations a factor 1e10 apart."""
    kappas = np.array([1e200, 1e210])
    kl = hvae_scalars(d, kappas, torch.float64)[3]
    assert (kl[1] - kl[0]) / np.log(1e10) == pytest.approx((d - 1) / 2, rel=1e-12)


@pytest.mark.parametrize("d", [2, 5, 100])
def test_gradients_in_kappa_at_large_kappa(d: int) -> None:
    """d KL / d kappa = kappa A' and d H / d kappa = -kappa A' ~ -(d-1)/(2 kappa), and the
    kappa-gradient of log q(mode) = d(kappa - L)/d kappa = 1 - A ~ (d-1)/(2 kappa), all to
    1e-10 relative of the leading terms' value at kappa = 1e12 and finite up to 1e300."""
    for kappa_value in (1e12, 1e100, 1e300):
        kappa = torch.tensor(kappa_value, dtype=torch.float64, requires_grad=True)
        loc = torch.zeros(d, dtype=torch.float64)
        loc[0] = 1
        q = VonMisesFisher(loc, kappa)
        kl = kl_divergence(q, HypersphericalUniform(d, dtype=torch.float64))
        grads = [torch.autograd.grad(t, kappa)[0].item()
                 for t in (kl, q.entropy(), q.log_prob(loc))]
        assert all(np.isfinite(grads))
        if kappa_value == 1e12:
            lead = (d - 1) / (2 * kappa_value)
            assert grads[0] == pytest.approx(lead, rel=1e-10)
            assert grads[1] == pytest.approx(-lead, rel=1e-10)
            assert grads[2] == pytest.approx(lead, rel=1e-10)


@pytest.mark.parametrize("d", [2, 3, 64, 10000])
def test_float64_at_the_ends_of_its_range(d: int) -> None:
    """The smallest subnormal and normal concentrations and the largest double: where 2k/kappa
    overflows in the recurrence and sums like s + kappa overflow, the same 1e-13."""
    kappas = np.array([5e-324, 2.2250738585072014e-308, 1e-200, 1e-150, 1e-140, 1e307,
                       1.7976931348623157e308])
    exact = exact_scalars(d, kappas)
    err = np.abs(hvae_scalars(d, kappas, torch.float64) - exact) / np.maximum(1, np.abs(exact))
    assert np.isfinite(err).all() and err.max() <= 1e-13, err
