"""Half precision (float16, bfloat16): the vMF sampler's draws and the sphere constraint.

The sampler computes half-precision draws in float32 and rounds them once
(:func:`hvae.sampling.sample_vmf`), so that they lie within the dtype's unit roundoff u of the
sphere and pass the support check, whose tolerance
(:func:`hvae.distributions.constraints._unit_tolerance`) is derived from ``finfo``. Every random
draw here is seeded; the thresholds are the documented bounds.
"""

from __future__ import annotations

import pytest
import torch

from hvae import ops
from hvae.distributions import VonMisesFisher
from hvae.distributions.constraints import _unit_tolerance, sphere
from hvae.sampling import sample_vmf

F64 = torch.float64
HALF = (torch.float16, torch.bfloat16)
U32 = 0.5 * torch.finfo(torch.float32).eps


def unit_roundoff(dtype: torch.dtype) -> float:
    return 0.5 * torch.finfo(dtype).eps


def rounded_unit(shape: tuple, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Unit vectors computed in float64 and rounded coordinate-wise to ``dtype``."""
    g = torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return (g / g.norm(dim=-1, keepdim=True)).to(dtype)


def true_norm_error(z: torch.Tensor) -> float:
    """max | ||z|| - 1 |, the norm of the stored values computed in float64."""
    return float((z.detach().double().norm(dim=-1) - 1).abs().max())


@pytest.mark.parametrize("kappa", [1e-3, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("d", [2, 3, 5, 64])
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_own_draws_pass_validation_and_have_gradients(dtype, d: int, kappa: float) -> None:
    """500 reparameterised draws: of the input dtype, finite, within u + 64 u_float32 of the
    sphere (one rounding of a float32 unit vector), accepted by log_prob with
    validate_args=True; a backward pass gives finite gradients of loc and kappa. float16 cannot
    hold kappa = 1e6 (its largest value is 65504), so that case calls sample_vmf, which takes
    kappa in float64, directly."""
    loc = rounded_unit((d,), dtype, seed=d).requires_grad_(True)
    torch.manual_seed(d + int(kappa))
    if kappa <= torch.finfo(dtype).max:
        conc = torch.tensor(kappa, dtype=dtype, requires_grad=True)
        p = VonMisesFisher(loc, conc, validate_args=True)
        z = p.rsample((500,))
    else:
        conc = torch.tensor(kappa, dtype=F64, requires_grad=True)
        z = sample_vmf(loc, conc, (500,))
        p = VonMisesFisher(loc, torch.tensor(1.0, dtype=dtype), validate_args=True)
    assert z.dtype == dtype and z.shape == (500, d)
    assert torch.isfinite(z).all()
    assert true_norm_error(z) <= unit_roundoff(dtype) + 64 * U32
    assert sphere.check(z).all()
    assert torch.isfinite(p.log_prob(z.detach())).all()  # raises ValueError if off the support
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    g_loc, g_conc = torch.autograd.grad((z * weights).sum(), (loc, conc))
    assert g_loc.dtype == dtype and torch.isfinite(g_loc).all()
    assert torch.isfinite(g_conc)


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_half_draws_are_float32_draws_rounded_once(dtype) -> None:
    """With equal generator seeds, a half-precision draw is the float32 draw around
    loc / |loc| (loc upcast) rounded to the dtype: computed in float32, rounded once."""
    for d in (3, 5, 64):
        loc = rounded_unit((4, d), dtype, seed=10 + d)
        kappa = torch.tensor([0.5, 5.0, 500.0, 5e5], dtype=F64)
        half = sample_vmf(loc, kappa, (50,), generator=torch.Generator().manual_seed(d))
        up = loc.float()
        up = up / up.norm(dim=-1, keepdim=True)
        ref = sample_vmf(up, kappa, (50,), generator=torch.Generator().manual_seed(d))
        assert half.dtype == dtype and ref.dtype == torch.float32
        assert torch.equal(half, ref.to(dtype))


def test_float32_draws_use_the_float32_stream() -> None:
    """float32 input takes the native path, unchanged: its draws are the Householder image of
    the same random numbers (one float32 Gaussian block from the operator's seeded generator,
    then 1 - w), rebuilt here in float64 from those numbers, to float32 accuracy (1e-5)."""
    d, n = 5, 200
    loc = rounded_unit((d,), torch.float32, seed=3)
    kappa = torch.tensor(20.0, dtype=F64)
    z = sample_vmf(loc, kappa, (n,), generator=torch.Generator().manual_seed(4))
    seed = torch.randint(0, 2**63 - 1, (), generator=torch.Generator().manual_seed(4))
    g = torch.randn(n, d, dtype=torch.float32,
                    generator=torch.Generator().manual_seed(int(seed)))
    _, omw = ops.vmf_rsample(loc.expand(n, d), kappa.expand(n), None, seed, False)
    rest = g[:, 1:].double().norm(dim=-1)
    mu = loc.double()
    pole = 1.0 if mu[0] < 0 else -1.0
    y = torch.cat([(pole * (1 - omw))[:, None],
                   g[:, 1:].double() * (torch.sqrt(omw * (2 - omw)) / rest)[:, None]], -1)
    u = -mu
    u[0] += pole
    expected = y - (2 * (y @ u) / (u @ u))[:, None] * u
    assert z.dtype == torch.float32
    assert (z.double() - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("dtype", (torch.float64, torch.float32, *HALF), ids=str)
def test_sphere_tolerance_is_the_rounding_bound(dtype) -> None:
    """The tolerance is 2u/(1-u) + 64 u_w (u_w: float32's unit roundoff for half precision):

    - unit vectors rounded coordinate-wise are within u of the sphere (for half precision and
      float32, where float64 can measure it) and accepted;
    - vectors normalised in their own dtype (torch's normalize, d up to 10000) are accepted;
    - vectors whose norm is off by more than the tolerance (checked in float64) are rejected.
    """
    u = unit_roundoff(dtype)
    tol = _unit_tolerance(dtype)
    u_w = unit_roundoff(torch.promote_types(dtype, torch.float32))
    assert tol == pytest.approx(2 * u / (1 - u) + 64 * u_w, rel=1e-12)
    for d in (2, 3, 64, 10000):
        x = rounded_unit((256 if d < 10000 else 8, d), dtype, seed=d)
        if dtype != torch.float64:
            assert true_norm_error(x) <= u * (1 + 1e-6)
        assert sphere.check(x).all()
        h = torch.randn(256 if d < 10000 else 8, d, generator=torch.Generator().manual_seed(d))
        assert sphere.check(torch.nn.functional.normalize(h.to(dtype), dim=-1)).all()
        off = (x.double() * (1 + 3 * tol)).to(dtype)
        assert (off.double().norm(dim=-1) - 1).abs().min() > tol  # the premise
        assert not sphere.check(off).any()
