"""hvae.fused.vmf_rsample_kl, the draw and KL of the S-VAE's layer from an un-normalised
direction (now the composition of the operators): its draws against a Monte Carlo check, its
gradients against finite differences (where they are valid), its input errors.
"""

from __future__ import annotations

import math

import pytest
import reference as ref
import torch
import torch.nn.functional as F

from hvae.fused import vmf_rsample_kl


def _inputs(n: int, d: int, dtype: torch.dtype, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    direction = (3 * torch.randn(n, d, dtype=dtype, generator=gen)).requires_grad_()
    kappa = (torch.rand(n, dtype=dtype, generator=gen) * 60 + 0.05).requires_grad_()
    return direction, kappa


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
