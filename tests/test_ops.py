"""hvae's torch.library operators: registrations (opcheck), autograd, torch.func and
torch.compile through the distribution's log_prob, entropy and KL."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from hvae import ops
from hvae.distributions import HypersphericalUniform, VonMisesFisher

F64 = torch.float64


def _samples() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.tensor([0.0, 1e-300, 1e300], dtype=F64),
                   10 ** (torch.rand(9, generator=gen, dtype=F64) * 12 - 4)]).to(F64)
    per_element = torch.rand(12, generator=gen, dtype=F64) * 40
    return [(torch.tensor(0.0, dtype=F64), x), (torch.tensor(1.5, dtype=F64), x),
            (torch.tensor(499.0, dtype=F64), x.reshape(3, 4)), (per_element, x),
            (torch.tensor(4.0, dtype=F64), x[3:].clone().requires_grad_())]


@pytest.mark.parametrize("case", range(5))
def test_bessel_terms_opcheck(case: int) -> None:
    """Schema, fake tensor, autograd registration and AOT dispatch (static and dynamic)."""
    v, x = _samples()[case]
    torch.library.opcheck(ops.bessel_terms, (v, x))


def test_bessel_terms_rejects_negative_arguments_in_its_kernels() -> None:
    for bad in (-2.0, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"^x: must be finite and >= 0"):
            ops.bessel_terms(torch.tensor(1.0, dtype=F64), torch.tensor([1.0, bad], dtype=F64))


def test_bessel_terms_function_gradcheck() -> None:
    """The first five outputs' x-derivatives, against finite differences."""
    x = torch.tensor([0.3, 2.0, 17.0, 250.0], dtype=F64, requires_grad=True)
    for v in (0.0, 2.5, 30.0):
        order = torch.tensor(v, dtype=F64)
        assert torch.autograd.gradcheck(lambda t, o=order: ops.bessel_terms_function(o, t)[:5],
                                        (x,))


def _vmf_scalars(loc: torch.Tensor, kappa: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    q = VonMisesFisher(loc, kappa, validate_args=False)
    prior = HypersphericalUniform(loc.shape[-1], dtype=loc.dtype, validate_args=False)
    return torch.stack([q.log_prob(z), q.entropy(), kl_divergence(q, prior)])


def _batch(n: int, d: int, dtype=F64, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    loc = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=-1)
    z = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=-1)
    kappa = (10 ** (torch.rand(n, generator=gen, dtype=dtype) * 4 - 1)).to(dtype)
    return loc, kappa, z


@pytest.mark.parametrize("d", [2, 3, 5, 64])
def test_func_grad_equals_autograd(d: int) -> None:
    """torch.func.grad of log_prob, entropy and KL in kappa and loc equals torch.autograd."""
    loc, kappa, z = _batch(6, d)
    for row in range(3):
        def scalar(k, mu, row=row):
            return _vmf_scalars(mu, k, z)[row].sum()

        got = torch.func.grad(scalar, argnums=(0, 1))(kappa, loc)
        k, mu = kappa.clone().requires_grad_(), loc.clone().requires_grad_()
        want = torch.autograd.grad(scalar(k, mu), (k, mu), allow_unused=True)
        for g, w in zip(got, want, strict=True):
            assert torch.allclose(g, torch.zeros_like(g) if w is None else w, rtol=1e-12,
                                  atol=1e-14)


@pytest.mark.parametrize("d", [2, 3, 64])
def test_vmap_over_loc_kappa_and_value(d: int) -> None:
    """vmap over one example at a time equals the batched call, row by row."""
    loc, kappa, z = _batch(7, d)
    mapped = torch.func.vmap(_vmf_scalars, in_dims=(0, 0, 0), out_dims=1)(loc, kappa, z)
    assert torch.allclose(mapped, _vmf_scalars(loc, kappa, z), rtol=1e-14, atol=0)


def test_compile_fullgraph_with_changing_batch_sizes_and_dimensions() -> None:
    """One compiled function, no graph break (fullgraph=True), for d in {2, 3, 5, 64} and
    three batch sizes each, equal to eager; per dtype, since each d is a recompilation (the
    log sphere area is a Python number of d) and dynamo allows 8 by default."""
    for dtype in (torch.float32, F64):
        torch.compiler.reset()
        compiled = torch.compile(_vmf_scalars, fullgraph=True)
        for d in (2, 3, 5, 64):
            for n in (3, 8, 17):
                args = _batch(n, d, dtype, seed=n)
                assert torch.allclose(compiled(*args), _vmf_scalars(*args), rtol=1e-6,
                                      atol=1e-6)


def test_sampler_opchecks() -> None:
    gen = torch.Generator().manual_seed(1)
    loc = F.normalize(torch.randn(6, 5, dtype=F64, generator=gen), dim=-1).requires_grad_()
    kappa = (torch.rand(6, dtype=F64, generator=gen) * 10 + 0.5).requires_grad_()
    seed = torch.tensor(3)
    mean_w = ops.bessel_terms(torch.tensor(1.5, dtype=F64), kappa.detach())[1]
    torch.library.opcheck(ops.vmf_rsample, (loc, kappa, None, seed, False))
    torch.library.opcheck(ops.vmf_rsample, (loc, kappa, mean_w, seed, False))
    torch.library.opcheck(ops.vmf_rsample, (loc[:, :3], kappa, None, seed, True))
    torch.library.opcheck(ops.sample_one_minus_w, (kappa.detach(), 5, seed))
    omw = ops.sample_one_minus_w(kappa.detach(), 5, seed)
    torch.library.opcheck(ops.dw_dkappa, (omw, kappa.detach(), mean_w, 5))
    z, omw = ops.vmf_rsample(loc.detach(), kappa.detach(), None, seed, False)
    grad_z = torch.randn(z.shape, dtype=F64, generator=gen)
    for args in ((mean_w, True), (None, False)):
        torch.library.opcheck(ops.vmf_rsample_backward,
                              (grad_z, loc.detach(), z, omw, kappa.detach(), *args))


def test_vmf_rsample_same_seed_same_draws_and_bad_kappa() -> None:
    loc, kappa, _ = _batch(5, 4)
    a = ops.vmf_rsample(loc, kappa, None, torch.tensor(9), False)
    b = ops.vmf_rsample(loc, kappa, None, torch.tensor(9), False)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    for bad in (0.0, -1.0, math.nan, math.inf):
        k = kappa.clone()
        k[2] = bad
        with pytest.raises(ValueError, match=r"^kappa: must be positive and finite"):
            ops.vmf_rsample(loc, k, None, torch.tensor(9), False)


def test_compile_rsample_fullgraph_with_changing_shapes() -> None:
    """rsample compiles without a graph break (fullgraph=True) for d in {2, 3, 5, 64} and
    changing batch sizes; its draws are unit vectors (the compiled graph draws its own seed,
    so the draws differ from eager ones: compared by law elsewhere)."""
    torch.compiler.reset()

    def draw(loc, kappa):
        return VonMisesFisher(loc, kappa, validate_args=False).rsample()

    compiled = torch.compile(draw, fullgraph=True)
    for d in (2, 3, 5, 64):
        for n in (4, 9):
            loc, kappa, _ = _batch(n, d, torch.float32, seed=n + d)
            z = compiled(loc, kappa)
            assert z.shape == (n, d) and z.dtype == torch.float32
            assert float((z.norm(dim=-1) - 1).abs().max()) < 1e-5


@pytest.mark.parametrize("d", [2, 5])
def test_compile_vae_training_step(d: int) -> None:
    """A whole VAE("vmf", d) training step (forward, backward, Adam step) under torch.compile:
    no graph break in the loss (torch._dynamo.explain), and three compiled steps with changing
    batch sizes lower the loss on a fixed batch as the eager steps do."""
    from hvae.models import VAE

    torch.compiler.reset()
    torch.manual_seed(0)
    model = VAE("vmf", d, hidden=(32, 16), input_dim=20)
    x = torch.bernoulli(torch.full((16, 20), 0.3))
    assert torch._dynamo.explain(model.loss)(x).graph_break_count == 0
    opt = torch.optim.Adam(model.parameters(), 1e-2)

    def step(batch):
        opt.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        opt.step()
        return loss.detach()

    compiled = torch.compile(step)
    with torch.no_grad():
        before = float(model.loss(x))
    for n in (16, 12, 16):
        loss = compiled(x[:n])
        assert torch.isfinite(loss)
    with torch.no_grad():
        assert float(model.loss(x)) < before


def test_vmap_and_grad_of_rsample() -> None:
    """vmap over rows (randomness='different', as any random torch op needs) gives unit draws
    of the right shape, and func.grad of a draw's linear function is finite in both inputs."""
    loc, kappa, _ = _batch(6, 4)
    z = torch.func.vmap(lambda mu, k: VonMisesFisher(mu, k, validate_args=False).rsample(),
                        randomness="different")(loc, kappa)
    assert z.shape == (6, 4) and float((z.norm(dim=-1) - 1).abs().max()) < 1e-12
    weights = torch.linspace(-1, 1, 4, dtype=F64)
    grads = torch.func.grad(
        lambda mu, k: (VonMisesFisher(mu, k, validate_args=False).rsample() @ weights).sum(),
        argnums=(0, 1))(loc, kappa)
    assert all(bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("d, dtype", [(3, torch.float32), (11, torch.float32), (5, torch.float64)])
def test_eager_kernel_calls_equal_the_operators(d: int, dtype: torch.dtype) -> None:
    """In plain eager on the CPU the wrappers call the operators' CPU kernels directly (past a
    custom_op's Python layers): the same draws, Bessel terms and gradients, bit for bit, as the
    operators reached through their registered autograd."""
    gen = torch.Generator().manual_seed(d)
    loc0 = F.normalize(torch.randn(70, d, generator=gen, dtype=dtype), dim=-1)
    k0 = torch.rand(70, generator=gen, dtype=torch.float64) * 40 + 0.5
    upstream = torch.randn(70, d, generator=gen, dtype=dtype)
    order = torch.tensor(0.5 * d - 1, dtype=torch.float64)
    seed = torch.tensor(99)
    outs = []
    for call_rsample, call_bessel in ((ops.vmf_rsample_function, ops.bessel_terms_function),
                                      (ops.vmf_rsample, ops.bessel_terms)):
        loc, k = loc0.clone().requires_grad_(), k0.clone().requires_grad_()
        terms = call_bessel(order, k)
        z, omw = call_rsample(loc, k, terms[1].detach(), seed, d == 3)
        ((z * upstream).sum() + terms[3].sum() + terms[4].sum()).backward()
        outs.append((z, omw, *terms, loc.grad, k.grad))
    for direct, through_op in zip(*outs, strict=True):
        assert torch.equal(direct, through_op)
