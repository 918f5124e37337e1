"""hvae.fused: the S-VAE's draw and KL in one autograd node.

The fused node must be the generic path (``VonMisesFisher(normalize(r), kappa).rsample()`` and
``kl_divergence`` to the uniform prior, each tested on its own against mpmath and statistical
references) computed differently: same draws for the same seed, same KL, same gradients. On top,
finite differences (where they are valid), one independent Monte Carlo check of the draws, and
the model using it.
"""

from __future__ import annotations

import math

import pytest
import reference as ref
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.fused import vmf_rsample_kl
from hvae.models import VAE
from hvae.sampling import sample_vmf

# float32 carries ~7 digits; the fused node works in float64 and rounds once at the end
TOL = {torch.float32: 2e-5, torch.float64: 1e-11}


def _generic(direction, kappa, generator):
    """What VonMisesFisher(...).rsample() and kl_divergence do, with an explicit generator."""
    q = VonMisesFisher(F.normalize(direction, dim=-1, eps=1e-12), kappa, validate_args=False)
    prior = HypersphericalUniform(direction.shape[1], dtype=direction.dtype)
    z = sample_vmf(q.loc, q.concentration.double(), generator=generator, mean_w=q._terms[1])
    return z, kl_divergence(q, prior)


def _inputs(n: int, d: int, dtype: torch.dtype, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    direction = (3 * torch.randn(n, d, dtype=dtype, generator=gen)).requires_grad_()
    kappa = (torch.rand(n, dtype=dtype, generator=gen) * 60 + 0.05).requires_grad_()
    return direction, kappa


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d", [2, 3, 5, 11, 101])
def test_same_draws_kl_and_gradients_as_the_generic_path(d: int, dtype: torch.dtype) -> None:
    """Same seed: z, KL and the gradients of a random linear function of (z, KL) in both
    inputs agree to float rounding (2e-5 relative in float32, 1e-11 in float64)."""
    direction, kappa = _inputs(64, d, dtype)
    weights = torch.Generator().manual_seed(2)
    w_z = torch.randn(64, d, dtype=dtype, generator=weights)
    w_kl = torch.randn(64, dtype=dtype, generator=weights)
    results = []
    for fn in (vmf_rsample_kl, _generic):
        z, kl = fn(direction, kappa, torch.Generator().manual_seed(5))
        grads = torch.autograd.grad((z * w_z).sum() + (kl * w_kl).sum(), (direction, kappa))
        results.append((z, kl, *grads))
    for name, fused, generic in zip(("z", "KL", "d/dr", "d/dkappa"), *results, strict=True):
        assert fused.dtype == dtype
        scale = generic.abs().max()
        err = float((fused - generic).detach().abs().max() / scale.detach())
        assert err < TOL[dtype], f"{name}: relative difference {err:.1e}"


def test_draws_are_unit_vectors_with_the_right_mean() -> None:
    """Independent check: 40,000 draws at d = 11, kappa = 7: |z| = 1, and the mean of
    <mu, z> matches A_11(7) from mpmath within 4 standard errors."""
    n, d, kappa = 40_000, 11, 7.0
    direction = torch.randn(1, d, dtype=torch.float64).expand(n, d)
    z, kl = vmf_rsample_kl(direction, torch.full((n,), kappa, dtype=torch.float64),
                           torch.Generator().manual_seed(0))
    assert float((z.norm(dim=1) - 1).abs().max()) < 1e-14
    cos = z @ F.normalize(direction[0], dim=0)
    z_score = (float(cos.mean()) - float(ref.mean_resultant_length(d, kappa))) / float(
        cos.std() / math.sqrt(n))
    assert abs(z_score) < 4
    assert float((kl - float(ref.vmf_kl_to_uniform(d, kappa))).abs().max()) < 1e-12


def test_gradcheck_in_the_direction() -> None:
    """Finite differences in r with the random numbers fixed (the draw of w does not depend on
    r, so holding the generator's seed fixed holds everything else fixed)."""
    direction, kappa = _inputs(6, 5, torch.float64)

    def fn(r):
        return vmf_rsample_kl(r, kappa.detach(), torch.Generator().manual_seed(3))

    assert torch.autograd.gradcheck(fn, (direction,), eps=1e-6, atol=1e-8)


def test_gradcheck_in_kappa_for_the_exact_sampler_of_d3() -> None:
    """For d = 3 the draw is the exact inverse CDF of one uniform, so finite differences with a
    fixed seed are the true pathwise derivative, which the implicit gradient must equal (the
    rejection sampler of other d has no such finite-difference check)."""
    direction, kappa = _inputs(6, 3, torch.float64)

    def fn(k):
        return vmf_rsample_kl(direction.detach(), k, torch.Generator().manual_seed(3))

    assert torch.autograd.gradcheck(fn, (kappa,), eps=1e-6, atol=1e-7)


def test_kl_of_a_fixed_kappa_carries_no_gradient() -> None:
    """With kappa a constant the KL is one: no autograd history, as in the generic path."""
    direction, _ = _inputs(8, 5, torch.float32)
    z, kl = vmf_rsample_kl(direction, torch.full((8,), 20.0))
    assert z.requires_grad and not kl.requires_grad
    assert bool((kl == kl[0]).all())


@pytest.mark.parametrize(
    "direction, kappa, match",
    [
        (torch.ones(4, 3, 2), torch.ones(4), "must be \\(n, d\\)"),
        (torch.ones(4, 3), torch.ones(3), "must be \\(n, d\\)"),
        (torch.ones(4, 1), torch.ones(4), "d >= 2"),
        (torch.ones(4, 3), torch.tensor([1.0, 0.0, 1.0, 1.0]), "positive and finite"),
        (torch.ones(4, 3), torch.tensor([1.0, math.nan, 1.0, 1.0]), "positive and finite"),
        (torch.ones(4, 3), torch.tensor([1.0, math.inf, 1.0, 1.0]), "positive and finite"),
    ],
)
def test_bad_inputs(direction, kappa, match) -> None:
    with pytest.raises(ValueError, match=match):
        vmf_rsample_kl(direction, kappa)


@pytest.mark.parametrize("latent, kwargs", [("vmf", {}), ("vmf-fixed", {"kappa": 20.0})])
def test_model_terms_equal_the_generic_path(latent: str, kwargs: dict) -> None:
    """VAE.terms (fused) gives the reconstruction term and KL of encode -> rsample -> kl, for
    the same seed, and the same parameter gradients."""
    torch.manual_seed(0)
    model = VAE(latent, 4, hidden=(32, 16), input_dim=20, **kwargs)
    x = torch.bernoulli(torch.full((16, 20), 0.3))
    outputs = []
    for fused in (True, False):
        torch.manual_seed(7)
        if fused:
            rec, kl = model.terms(x)
        else:
            q = model.encode(x)
            rec, kl = model.log_likelihood(x, model.decode(q.rsample())), model.kl(q)
        grads = torch.autograd.grad((kl - rec).mean(), list(model.parameters()),
                                    allow_unused=True)
        outputs.append([rec, kl, *[g for g in grads if g is not None]])
    for fused, generic in zip(*outputs, strict=True):
        assert torch.allclose(fused, generic, rtol=1e-4, atol=1e-5)
