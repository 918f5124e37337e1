"""Each operator's CPU kernel (hvae._kernels, numba) against its CUDA-path kernel
(hvae._array_kernels, torch) run on the CPU: same inputs, same seed, same outputs.

Both are tested against independent references elsewhere (test_sampling: Wood's sampler by KS
tests, the implicit gradient against mpmath quadrature; test_special and test_vmf_accuracy:
the Bessel terms against mpmath).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hvae import _array_kernels, _kernels, ops

CASES = [(2, 1e-3), (2, 30.0), (3, 1.0), (5, 2.0), (11, 30.0), (100, 1e4), (1000, 1.0)]
SEED = torch.tensor(12345)


@pytest.mark.parametrize("d, kappa", CASES)
@pytest.mark.parametrize("n", [7, 5000])
def test_wood_sampler_kernels_give_the_same_draws(d: int, kappa: float, n: int):
    """Same seed: the same 1 - w for every entry (the random numbers are drawn in the same
    order and shapes; 5000 entries exercise both proposal counts of later rounds)."""
    k = torch.full((n,), kappa, dtype=torch.float64)
    compiled = ops.sample_one_minus_w(k, d, SEED)
    arrays = ops._sample_one_minus_w_arrays(k, d, SEED)
    assert torch.allclose(compiled, arrays, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d, kappa", CASES)
def test_vmf_rsample_kernels_give_the_same_draws(d: int, kappa: float, dtype) -> None:
    """Same seed: the same draws z (float64: 1e-14; float32, where the array kernel reflects in
    float32 and the compiled one in float64: 1e-6) and the same 1 - w, for Wood's sampler and,
    at d = 3, the exact one."""
    gen = torch.Generator().manual_seed(d)
    loc = torch.nn.functional.normalize(torch.randn(300, d, dtype=dtype, generator=gen), dim=1)
    loc[0] = 0
    loc[0, 0] = -1  # the pole itself, both signs
    loc[1] = 0
    loc[1, 0] = 1
    k = torch.full((300,), kappa, dtype=torch.float64)
    for exact in (False, True) if d == 3 else (False,):
        z_c, omw_c = ops.vmf_rsample(loc, k, SEED, exact)
        z_a, omw_a = ops._vmf_rsample_arrays(loc, k, SEED, exact)
        assert torch.allclose(omw_c, omw_a, rtol=1e-14, atol=0)
        tol = 1e-14 if dtype == torch.float64 else 1e-6
        assert float((z_c - z_a).abs().max()) <= tol


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
    """symmetric_beta and split_gaussian against beta_from_gaussian on the same normals, both
    signs of the first coordinate included (the cancellation-free branch for t near -1)."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(400, 3, dtype=torch.float64, generator=gen)
    z[:5, 0] = torch.tensor([-1e3, -50.0, 0.0, 50.0, 1e3])
    gamma = torch._standard_gamma(torch.full((400, 3), 4.5, dtype=torch.float64), generator=gen)
    expected = _array_kernels.beta_from_gaussian(z, torch.sqrt(2 * gamma)).numpy()
    assert np.allclose(_kernels.symmetric_beta(z.numpy(), gamma.numpy()), expected,
                       rtol=1e-14, atol=0)
    g = torch.randn(300, 6, dtype=torch.float64, generator=gen)
    rest_norm, first = _kernels.split_gaussian(g.numpy())
    expected_rest = torch.linalg.vector_norm(g[:, 1:], dim=1)
    assert np.allclose(rest_norm, expected_rest.numpy(), rtol=1e-14, atol=0)
    assert np.allclose(first, _array_kernels.beta_from_gaussian(g[:, 0], expected_rest).numpy(),
                       rtol=1e-14, atol=0)


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
