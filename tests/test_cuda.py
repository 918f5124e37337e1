"""The operators' CUDA path on a GPU (skipped without one): the torch kernels of
hvae._array_kernels on the device against the CPU kernels, and the laws of the draws."""

from __future__ import annotations

import math

import pytest
import reference as ref
import torch

from hvae import ops
from hvae.distributions import VonMisesFisher

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
F64 = torch.float64


@pytest.mark.parametrize("v", [0.0, 1.5, 30.0, 4999.0])
def test_bessel_terms_on_the_device_equal_the_cpu_kernel(v: float) -> None:
    x = torch.cat([torch.tensor([0.0, 5e-324, 1e-200], dtype=F64),
                   torch.logspace(-8, 300, 200, dtype=F64)])
    order = torch.tensor(v, dtype=F64)
    cpu = ops.bessel_terms(order, x)
    gpu = ops.bessel_terms(order.cuda(), x.cuda())
    for c, g in zip(cpu, gpu, strict=True):
        g = g.cpu()
        finite = torch.isfinite(c)
        assert torch.equal(torch.isfinite(g), finite)
        assert torch.allclose(g[finite], c[finite], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("d, kappa", [(2, 5.0), (3, 1.0), (5, 50.0), (64, 1e3)])
def test_rsample_on_the_device_has_the_right_mean(d: int, kappa: float) -> None:
    """40,000 draws on the GPU: unit vectors, and the mean of <mu, z> within 4 standard errors
    of A_d(kappa) from mpmath; gradients finite and on the device."""
    n = 40_000
    loc = torch.zeros(n, d, dtype=F64, device="cuda")
    loc[:, 0] = 1
    k = torch.full((n,), kappa, dtype=F64, device="cuda", requires_grad=True)
    z = VonMisesFisher(loc, k).rsample()
    assert z.device.type == "cuda"
    assert float((z.norm(dim=-1) - 1).abs().max()) < 1e-12
    cos = z[:, 0].detach().cpu()
    z_score = (float(cos.mean()) - float(ref.mean_resultant_length(d, kappa))) / (
        float(cos.std()) / math.sqrt(n))
    assert abs(z_score) < 4
    (grad,) = torch.autograd.grad(z[:, 0].sum(), k)
    assert grad.device.type == "cuda" and bool(torch.isfinite(grad).all())


def test_dw_dkappa_on_the_device_equals_the_cpu_kernel() -> None:
    k = torch.full((2000,), 30.0, dtype=F64)
    omw = ops.sample_one_minus_w(k, 11, torch.tensor(4))
    mean_w = ops.bessel_terms(torch.tensor(4.5, dtype=F64), k)[1]
    cpu = ops.dw_dkappa(omw, k, mean_w, 11)
    gpu = ops.dw_dkappa(omw.cuda(), k.cuda(), mean_w.cuda(), 11).cpu()
    assert float((cpu - gpu).abs().max()) <= 1e-11 * float(cpu.abs().max())


def test_vmf_rsample_backward_on_the_device_equals_the_cpu_kernel() -> None:
    gen = torch.Generator().manual_seed(5)
    loc = torch.nn.functional.normalize(torch.randn(500, 11, dtype=F64, generator=gen), dim=1)
    k = torch.full((500,), 30.0, dtype=F64)
    z, omw = ops.vmf_rsample(loc, k, None, torch.tensor(4), False)
    grad_z = torch.randn(z.shape, dtype=F64, generator=gen)
    mean_w = ops.bessel_terms(torch.tensor(4.5, dtype=F64), k)[1]
    cpu = ops.vmf_rsample_backward(grad_z, loc, z, omw, k, mean_w, True)
    gpu = ops.vmf_rsample_backward(*(t.cuda() for t in (grad_z, loc, z, omw, k, mean_w)), True)
    for c, g in zip(cpu, gpu, strict=True):
        assert g.device.type == "cuda"
        assert float((c - g.cpu()).abs().max()) <= 1e-11 * float(c.abs().max())
