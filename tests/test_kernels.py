"""Each operator's CPU kernel (hvae._kernels, numba) against its CUDA-path kernel
(hvae._array_kernels, torch) run on the CPU: same inputs, same seed, same outputs.

Both are tested against independent references elsewhere (test_sampling: Wood's sampler by KS
tests, the implicit gradient against mpmath quadrature; test_special and test_vmf_accuracy:
the Bessel terms against mpmath).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats
from test_sampling import ks_angle_pvalue

from hvae import _array_kernels, _kernels, ops

CASES = [(2, 1e-3), (2, 30.0), (3, 1.0), (5, 2.0), (11, 30.0), (100, 1e4), (1000, 1.0)]
SEED = torch.tensor(12345)


@pytest.mark.parametrize("d, kappa", CASES)
def test_wood_sampler_kernels_draw_the_same_law(d: int, kappa: float):
    """The CPU kernel (one proposal per entry, retries for the rejected) and the CUDA-path one
    (all proposals up front, masked retries) consume different random numbers, so their draws
    are compared by law: each passes a KS test against the exact angle law (p > 1e-3, fixed
    seeds), and the two samples a two-sample KS test (p > 1e-3)."""
    k = torch.full((20_000,), kappa, dtype=torch.float64)
    compiled = ops.sample_one_minus_w(k, d, SEED).numpy()
    arrays = ops._sample_one_minus_w_arrays(k, d, SEED).numpy()
    for omw in (compiled, arrays):
        assert ((omw >= 0) & (omw <= 2)).all()
        assert ks_angle_pvalue(omw, d, kappa) > 1e-3
    assert stats.ks_2samp(compiled, arrays).pvalue > 1e-3


def test_array_sampler_redraws_every_rejected_entry() -> None:
    """The masked retry: first proposals eps = 1 give 1 - w = 2, the antipode, which the
    acceptance test rejects at kappa = 1e4; every one of 1,000 entries still ends with an
    accepted draw near the pole ((d-1)/(2 kappa) = 2e-4 is the typical 1 - w)."""
    k = torch.full((1000,), 1e4, dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    omw = _array_kernels.wood_one_minus_w(k, 5, torch.ones(1000, dtype=torch.float64), gen)
    assert float(omw.max()) < 0.01
    assert _array_kernels.proposals_up_front(64) == 11


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d, kappa", CASES)
def test_vmf_rsample_kernels_reflect_alike(d: int, kappa: float, dtype) -> None:
    """Same seed: the same Gaussian block in both kernels, so for the exact d = 3 sampler the
    same draws (float64: 1e-14; float32, where the array kernel reflects in float32 and the
    compiled one in float64: 1e-6). For Wood's sampler the 1 - w differ (previous tests), but
    each draw is the reflection of its own: 1 - <mu, z> = omw to rounding in both."""
    gen = torch.Generator().manual_seed(d)
    loc = torch.nn.functional.normalize(torch.randn(300, d, dtype=dtype, generator=gen), dim=1)
    loc[0] = 0
    loc[0, 0] = -1  # the pole itself, both signs
    loc[1] = 0
    loc[1, 0] = 1
    k = torch.full((300,), kappa, dtype=torch.float64)
    tol = 1e-14 if dtype == torch.float64 else 1e-6
    for exact in (False, True) if d == 3 else (False,):
        z_c, omw_c = ops.vmf_rsample(loc, k, None, SEED, exact)
        z_a, omw_a = ops._vmf_rsample_arrays(loc, k, SEED, exact)
        if exact:
            assert torch.allclose(omw_c, omw_a, rtol=1e-14, atol=0)
            assert float((z_c - z_a).abs().max()) <= tol
        for z, omw in ((z_c, omw_c), (z_a, omw_a)):
            cos = (z.double() * loc.double()).sum(-1)
            assert float(((1 - cos) - omw).abs().max()) <= 10 * tol * max(1, d ** 0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d, kappa", CASES)
def test_vmf_rsample_backward_kernels_agree(d: int, kappa: float, dtype) -> None:
    """The compiled backward (one float64 pass per row) and the array one (torch operations
    in the input dtype) on the same draws and upstream gradient, the poles of both signs
    included: grad_loc to 1e-12 (float64) or 1e-5 (float32) of its largest entry, grad_kappa
    to 1e-11 or 1e-5 of its largest (it crosses zero, so not relatively)."""
    gen = torch.Generator().manual_seed(d + 1)
    loc = torch.nn.functional.normalize(torch.randn(300, d, dtype=dtype, generator=gen), dim=1)
    loc[0], loc[1] = 0, 0
    loc[0, 0], loc[1, 0] = -1, 1
    k = torch.full((300,), kappa, dtype=torch.float64)
    z, omw = ops.vmf_rsample(loc, k, None, SEED, False)
    grad_z = torch.randn(z.shape, dtype=dtype, generator=gen)
    mean_w = ops.bessel_terms(torch.tensor(0.5 * d - 1, dtype=torch.float64), k)[1]
    compiled = ops.vmf_rsample_backward(grad_z, loc, z, omw, k, mean_w, True)
    arrays = ops._vmf_rsample_backward_arrays(grad_z, loc, z, omw, k, mean_w, True)
    tols = (1e-12, 1e-11) if dtype == torch.float64 else (1e-5, 1e-5)
    for c, a, tol in zip(compiled, arrays, tols, strict=True):
        assert c.dtype == a.dtype and c.shape == a.shape
        assert float((c - a).abs().max()) <= tol * float(a.abs().max())


@pytest.mark.parametrize("d, kappa", CASES)
def test_implicit_gradient_quadrature_kernels_agree(d: int, kappa: float):
    """The compiled quadrature and the array kernel agree to 1e-11 of the largest |dw/dkappa|
    (the values cross zero at w = A_d, so relative errors are meaningless there)."""
    k = torch.full((2000,), kappa, dtype=torch.float64)
    omw = ops.sample_one_minus_w(k, d, SEED)
    mean_w = ops.bessel_terms(torch.tensor(0.5 * d - 1, dtype=torch.float64), k)[1]
    compiled = ops.dw_dkappa(omw, k, mean_w, d)
    arrays = _array_kernels.dw_dkappa(omw, k, mean_w, d)
    assert float((compiled - arrays).abs().max()) <= 1e-11 * float(compiled.abs().max())


def test_beta_proposals_compiled_equal_torch():
    """The compiled first proposal (1 + g_1/|g|)/2 from a row's first coordinate and the norm
    of the rest against beta_from_gaussian, both signs of g_1 and |g_1| >> |rest| included
    (the cancellation-free branch for t near -1)."""
    gen = torch.Generator().manual_seed(3)
    first = torch.randn(300, dtype=torch.float64, generator=gen)
    first[:5] = torch.tensor([-1e3, -50.0, 0.0, 50.0, 1e3])
    rest = torch.rand(300, dtype=torch.float64, generator=gen) * 3
    expected = _array_kernels.beta_from_gaussian(first, rest).numpy()
    compiled = [_kernels._beta_from_gaussian(f, r) for f, r in zip(first.tolist(), rest.tolist(),
                                                                     strict=True)]
    assert np.allclose(compiled, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("v", [0.0, 0.5, 1.0, 4.5, 13.9, 14.0, 19.9, 20.0, 100.0, 1e4])
def test_bessel_terms_compiled_equal_the_array_version(v: float):
    """All seven outputs (log I_v, the ratio, the gap, the rescaled log, its complement and
    the two derivatives) from x = 0 and 1e-300 to 1e300: the operator's CPU kernel (the
    compiled loop) equals its CUDA-path kernel (torch array code) run on the CPU, up to
    rounding. The two sum the same terms in another order,
    so the tolerance follows each output's conditioning (their accuracy against mpmath is
    tested in test_special):

    - log I_v is a sum of terms up to ~(v + 1)|log x| or |log I|: 1e-13 of that, absolute;
    - the rescaled log and its complement are sums of positive terms: 1e-13 relative;
    - the ratio, the gap and d log_i/dx come from exp of a sum like log I_v's: 1e-8 relative
      covers the worst case (v = 1e4 at x = 1e-300, where the terms reach 7e6); an error in a
      formula would be of order 1; d ratio/dx likewise.
    """
    x = np.concatenate([[0.0, 5e-324, 1e-300, 1e-151, 1e-149], np.logspace(-8, 8, 161),
                        [1e300, 1.7976931348623157e308]])
    order = torch.tensor(v, dtype=torch.float64)
    compiled = [t.numpy() for t in ops.bessel_terms(order, torch.from_numpy(x))]
    arrays = [t.numpy() for t in _array_kernels.bessel_terms(order, torch.from_numpy(x))]
    log_terms = (v + 1) * np.abs(np.log(np.where(x > 0, x, 1.0)))
    names = ("log_i", "ratio", "gap", "rescaled", "complement", "d_log_i", "d_ratio")
    for name, c, a in zip(names, compiled, arrays, strict=True):
        finite = np.isfinite(c) & np.isfinite(a)
        assert (c[~finite] == a[~finite]).all(), name  # the same infinities
        if name == "log_i":
            tol = 1e-13 * np.maximum.reduce([np.ones_like(x), np.abs(a), log_terms])
        else:
            tol = (1e-13 if name in ("rescaled", "complement") else 1e-8) * np.abs(a)
        with np.errstate(invalid="ignore"):  # inf - inf where both are infinite
            ok = ~finite | (np.abs(c - a) <= tol)
        assert ok.all(), f"{name} at x = {x[~ok]}"


@pytest.mark.parametrize("d", [2, 3, 11])
def test_compiled_samplers_do_not_depend_on_the_thread_count(d: int) -> None:
    """Several blocks of rows (each seeded from the call's seed and its index) drawn on one
    thread and on two: the same draws, bit for bit, for the sampler and for Wood alone."""
    n = 3 * _kernels.BLOCK + 5
    gen = torch.Generator().manual_seed(d)
    loc = torch.nn.functional.normalize(torch.randn(n, d, generator=gen), dim=1)
    k = torch.rand(n, dtype=torch.float64, generator=gen) * 50 + 0.1
    before = torch.get_num_threads()
    draws = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            draws.append((ops.vmf_rsample(loc, k, None, SEED, d == 3),
                          ops.sample_one_minus_w(k, d, SEED)))
    finally:
        torch.set_num_threads(before)
    (z1, omw1), w1 = draws[0]
    (z2, omw2), w2 = draws[1]
    assert torch.equal(z1, z2) and torch.equal(omw1, omw2) and torch.equal(w1, w2)
    # each block its own stream: at one kappa, two blocks' draws still differ
    same_kappa = ops.sample_one_minus_w(torch.full((n,), 5.0, dtype=torch.float64), d, SEED)
    assert not torch.equal(same_kappa[: _kernels.BLOCK],
                           same_kappa[_kernels.BLOCK: 2 * _kernels.BLOCK])


def test_the_first_compiled_draw_keeps_torch_thread_count() -> None:
    """Starting numba's pool (OpenMP, shared with torch) set the process's thread count to
    numba's default: a user's ``torch.set_num_threads(1)`` became 2 after the first draw. A
    fresh process, since the pool starts once."""
    code = ("import torch; torch.set_num_threads(1)\n"
            "from hvae.distributions import VonMisesFisher\n"
            "VonMisesFisher(torch.tensor([0.0, 0.0, 1.0, 0.0]), torch.tensor(5.0)).sample((9,))\n"
            "print(torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "NUMBA_NUM_THREADS": "2"})
    assert out.stdout.strip() == "1"
