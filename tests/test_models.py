"""Tests for hvae.models: shapes, dimension convention, objective terms, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from hvae.data import load_mnist
from hvae.models import LATENTS, VAE

SMALL = (32, 16)  # hidden sizes for the quick tests; the paper's (256, 128) is the default


def make(latent: str, dim: int = 3, **kwargs) -> VAE:
    if latent == "vmf-fixed":
        kwargs.setdefault("kappa", 10.0)
    kwargs.setdefault("hidden", SMALL)
    torch.manual_seed(0)
    return VAE(latent, dim, **kwargs)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """32 real MNIST digits (bundled subset), binarised once with a fixed seed."""
    images = torch.from_numpy(load_mnist(split="train", source="mnist-5k-subset").images[:32])
    return torch.bernoulli(images, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------------------
# Construction, shapes and the dimension convention
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("latent", LATENTS)
def test_shapes(latent: str, digits: torch.Tensor) -> None:
    model = make(latent, dim=3)
    code = 4 if latent in ("vmf", "vmf-fixed") else 3
    assert model.code_dim == code
    x = digits[:8]
    q = model.encode(x)
    assert q.batch_shape == (8,) and q.event_shape == (code,)
    assert q.rsample().shape == (8, code)
    assert q.rsample((5,)).shape == (5, 8, code)
    assert model.embed(x).shape == (8, code)
    assert model.decode(torch.randn(8, code)).shape == (8, 784)
    rec, kl = model.terms(x)
    assert rec.shape == kl.shape == (8,)
    assert model.elbo(x).shape == (8,)
    loss = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss)
    assert model(x).shape == ()


def test_default_architecture_is_the_papers() -> None:
    model = VAE("normal", 2)
    widths = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 128]
    dec = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in dec] == [(2, 128), (128, 256), (256, 784)]


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_svae_codes_live_on_the_sphere_in_dim_plus_one(dim: int, digits: torch.Tensor) -> None:
    model = make("vmf", dim=dim)
    z = model.encode(digits).rsample((3,))
    assert z.shape[-1] == dim + 1
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3, 32), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.embed(digits).norm(dim=-1), torch.ones(32), atol=1e-5, rtol=0)
    prior = model.sample_prior(50)
    assert prior.shape == (50, dim + 1)
    torch.testing.assert_close(prior.norm(dim=-1), torch.ones(50), atol=1e-5, rtol=0)


def test_kappa_of_the_svae_is_at_least_one(digits: torch.Tensor) -> None:
    model = make("vmf")
    with torch.no_grad():
        model.kappa_head.bias.fill_(-30.0)  # softplus(-30) ~ 1e-13
    assert torch.all(model.encode(digits).concentration >= 1.0)


def test_normal_prior_samples() -> None:
    model = make("normal", dim=4)
    torch.manual_seed(3)
    z = model.sample_prior(4000)
    assert z.shape == (4000, 4)
    assert z.mean(0).abs().max() < 0.1  # standard error 1/sqrt(4000) = 0.016
    assert (z.std(0) - 1).abs().max() < 0.1


def test_config_round_trip(digits: torch.Tensor) -> None:
    model = make("vmf-fixed", dim=2, kappa=7.5, beta=0.5)
    clone = VAE(**model.config)
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone.embed(digits), model.embed(digits))
    assert clone.config == model.config and clone.kappa == 7.5 and clone.beta == 0.5


def test_proposal_gradient_changes_only_the_kappa_heads_gradient(digits: torch.Tensor) -> None:
    """The paper code's gradient (kappa_gradient="proposal") draws the same codes and leaves
    every gradient but the kappa head's as it is; the config keeps it."""
    grads = {}
    for how in ("implicit", "proposal"):
        torch.manual_seed(0)
        model = VAE("vmf", 2, hidden=(32, 16), kappa_gradient=how)
        torch.manual_seed(1)
        model.loss(digits).backward()
        grads[how] = {name: p.grad.clone() for name, p in model.named_parameters()}
        assert VAE(**model.config).kappa_gradient == how
    for name, g in grads["implicit"].items():
        if name.startswith("kappa_head") or name.startswith("encoder"):
            continue  # the encoder's gradient sums the heads' (kappa's differs)
        torch.testing.assert_close(grads["proposal"][name], g, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(grads["proposal"]["kappa_head.weight"],
                              grads["implicit"]["kappa_head.weight"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latent": "gamma", "dim": 2}, "latent"),
        ({"latent": "normal", "dim": 0}, "dim"),
        ({"latent": "vmf", "dim": -1}, "dim"),
        ({"latent": "vmf", "dim": 2.0}, "dim"),
        ({"latent": "vmf-fixed", "dim": 2}, "kappa"),
        ({"latent": "vmf-fixed", "dim": 2, "kappa": 0.0}, "kappa"),
        ({"latent": "vmf-fixed", "dim": 2, "kappa": float("nan")}, "kappa"),
        ({"latent": "vmf", "dim": 2, "kappa": 5.0}, "kappa"),
        ({"latent": "normal", "dim": 2, "likelihood": "poisson"}, "likelihood"),
        ({"latent": "normal", "dim": 2, "beta": -1.0}, "beta"),
        ({"latent": "normal", "dim": 2, "hidden": ()}, "hidden"),
        ({"latent": "normal", "dim": 2, "hidden": (32, 0)}, "hidden"),
        ({"latent": "normal", "dim": 2, "input_dim": 0}, "input_dim"),
        ({"latent": "normal", "dim": 2, "obs_scale": 0.1}, "obs_scale"),
        ({"latent": "normal", "dim": 2, "likelihood": "gaussian", "obs_scale": -1}, "obs_scale"),
        ({"latent": "vmf", "dim": 2, "kappa_gradient": "paper"}, "kappa_gradient: must be one"),
        ({"latent": "normal", "dim": 2, "kappa_gradient": "proposal"},
         "kappa_gradient: must be 'implicit' for latent 'normal'"),
        ({"latent": "vmf-fixed", "dim": 2, "kappa": 3.0, "kappa_gradient": "proposal"},
         "kappa_gradient: must be 'implicit' for latent 'vmf-fixed'"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VAE(**kwargs)


def test_autoencoder_has_no_prior() -> None:
    model = make("ae")
    with pytest.raises(ValueError, match="prior"):
        model.sample_prior(3)


# ------------------------------------------------------------------------------------------
# The terms of the objective, against independent formulas
# ------------------------------------------------------------------------------------------


def test_normal_kl_matches_torch(digits: torch.Tensor) -> None:
    model = make("normal", dim=5)
    q = model.encode(digits)
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    expected = kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(model.kl(q), expected, rtol=1e-5, atol=1e-5)


def _kl_vmf_s2_uniform(kappa: float) -> float:
    """KL(vMF_3(kappa) || uniform on S^2) from the elementary formulas for the 2-sphere:
    C_3(k) = k / (4 pi sinh k), A_3(k) = coth k - 1/k, KL = k A_3 + log C_3 + log(4 pi)."""
    a3 = 1.0 / math.tanh(kappa) - 1.0 / kappa
    return kappa * a3 + math.log(kappa / math.sinh(kappa))


@pytest.mark.parametrize("kappa", [1.5, 10.0, 40.0])
def test_fixed_kappa_kl_is_the_constant_for_s2(kappa: float, digits: torch.Tensor) -> None:
    model = make("vmf-fixed", dim=2, kappa=kappa)  # paper's d = 2: S^2 in R^3
    kl = model.kl(model.encode(digits))
    torch.testing.assert_close(
        kl, torch.full((32,), _kl_vmf_s2_uniform(kappa)), rtol=1e-4, atol=1e-4
    )


def test_bernoulli_log_likelihood_matches_torch(digits: torch.Tensor) -> None:
    model = make("normal")
    logits = torch.randn(32, 784, generator=torch.Generator().manual_seed(0)) * 3
    expected = -F.binary_cross_entropy_with_logits(logits, digits, reduction="none").sum(-1)
    torch.testing.assert_close(model.log_likelihood(digits, logits), expected)


@pytest.mark.parametrize("obs_scale", [None, 0.3])
def test_gaussian_log_likelihood_matches_torch(obs_scale: float | None) -> None:
    model = make("vmf", input_dim=10, likelihood="gaussian", obs_scale=obs_scale)
    gen = torch.Generator().manual_seed(0)
    x, mean = torch.randn(6, 10, generator=gen), torch.randn(6, 10, generator=gen)
    if obs_scale is None:  # learned: one scale per coordinate
        with torch.no_grad():
            model.log_obs_scale.copy_(torch.linspace(-1, 1, 10))
        scale = torch.exp(torch.linspace(-1, 1, 10))
    else:
        scale = torch.full((10,), obs_scale)
    expected = Normal(mean, scale).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, mean), expected)


def test_loss_is_the_beta_weighted_negative_elbo(digits: torch.Tensor) -> None:
    model = make("normal", beta=0.25)
    torch.manual_seed(5)
    rec, kl = model.terms(digits)
    for weight, expected_weight in [(None, 0.25), (0.0, 0.0), (2.0, 2.0)]:
        torch.manual_seed(5)
        loss = model.loss(digits, kl_weight=weight)
        torch.testing.assert_close(loss, (expected_weight * kl - rec).mean())
    torch.manual_seed(5)
    torch.testing.assert_close(model.elbo(digits), rec - kl)  # the ELBO ignores beta


def test_autoencoder_is_deterministic_with_zero_kl(digits: torch.Tensor) -> None:
    model = make("ae", beta=3.0)
    rec1, kl = model.terms(digits)
    rec2, _ = model.terms(digits)
    assert torch.equal(rec1, rec2) and torch.equal(kl, torch.zeros(32))
    torch.testing.assert_close(model.loss(digits), -rec1.mean())
    torch.testing.assert_close(model.encode(digits).rsample(), model.embed(digits))


# ------------------------------------------------------------------------------------------
# Learning
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("latent", ["normal", "vmf"])
def test_loss_decreases_on_a_small_batch(latent: str, digits: torch.Tensor) -> None:
    model = make(latent, dim=5, hidden=(256, 128))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(40):
        loss = model.loss(digits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # starts near 784 log 2 = 543 nats (random decoder); a working model gets far below it
    assert losses[0] > 450
    assert sum(losses[-5:]) / 5 < losses[0] - 150


def test_gradients_reach_kappa_through_the_sample(digits: torch.Tensor) -> None:
    """With the KL switched off, kappa only enters through z ~ vMF(mu, kappa): its head gets
    gradients only if the sampler is reparameterised in kappa."""
    model = make("vmf", dim=3)
    torch.manual_seed(0)
    model.loss(digits, kl_weight=0.0).backward()
    for param in (model.kappa_head.weight, model.kappa_head.bias, model.loc_head.weight):
        assert param.grad is not None and torch.isfinite(param.grad).all()
        assert param.grad.abs().max() > 0


def test_gradients_reach_kappa_through_the_kl(digits: torch.Tensor) -> None:
    model = make("vmf", dim=3)
    kl = model.kl(model.encode(digits)).sum()
    kl.backward()
    grad = model.kappa_head.bias.grad
    assert grad is not None and grad.item() > 0  # KL to the uniform grows with kappa


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("latent", LATENTS)
def test_cuda(latent: str, digits: torch.Tensor) -> None:
    model = make(latent).cuda()
    loss = model.loss(digits.cuda())
    loss.backward()
    assert loss.device.type == "cuda" and torch.isfinite(loss)
    if latent != "ae":
        assert model.sample_prior(4).device.type == "cuda"
