r"""Variational auto-encoders with a Gaussian (N-VAE) or hyperspherical (S-VAE) latent space.

One class, :class:`VAE`, covers the four latent spaces compared in the paper:

========== ============================================ ===================== ===============
latent     posterior :math:`q(z|x)`                     prior :math:`p(z)`    code size
========== ============================================ ===================== ===============
normal     :math:`N(\mu, \operatorname{diag}\sigma^2)`  :math:`N(0, I)`       ``d``
vmf        :math:`\mathrm{vMF}(\mu, \kappa)`, learned κ uniform on S^d        ``d + 1``
vmf-fixed  :math:`\mathrm{vMF}(\mu, \kappa)`, fixed κ   uniform on S^d        ``d + 1``
ae         point mass at :math:`\mu` (no sampling)      none (KL = 0)         ``d``
========== ============================================ ===================== ===============

**Dimension convention.** ``manifold_dim`` is the paper's *d*, the dimension of the latent
manifold: an N-VAE with ``manifold_dim=d`` has codes in R^d, an S-VAE with ``manifold_dim=d``
has codes on the sphere S^d inside R^(d+1). :attr:`VAE.code_dim` is the length of the code
vector (the ambient dimension, ``d + 1`` for the S-VAE), i.e. what :mod:`hvae.distributions`
calls ``dim``.

**Objective.** For one example the evidence lower bound is

.. math::
   \mathcal{L}(x) = \mathbb{E}_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x)\,\|\,p(z))
   \;\le\; \log p(x),

estimated with one reparameterised sample for the first term (the *reconstruction* term RE)
and in closed form for the second. Training minimises the mean of
:math:`-(\mathrm{RE} - \beta\,\mathrm{KL})` (:meth:`VAE.loss`); ``beta < 1`` gives the
"N-VAE with a down-weighted KL" of the paper's Figure 1.

**Architecture** (the paper's MNIST model): encoder ``input -> 256 -> 128`` with ReLU, then
linear heads; decoder ``code -> 128 -> 256 -> input``, ReLU, mirror of the encoder.

* N-VAE: :math:`\mu` = linear, :math:`\sigma` = softplus(linear) + 1e-6.
* S-VAE: :math:`\mu` = linear normalised to unit length, :math:`\kappa` = softplus(linear) + 1
  (as in the paper's code: κ >= 1 keeps the rejection sampler fast and the posterior proper).

**Likelihoods.** ``"bernoulli"``: the decoder outputs logits, :math:`\log p(x|z) =
\sum_i x_i \ell_i - \operatorname{softplus}(\ell_i)` (binary data, e.g. binarised MNIST).
``"gaussian"``: the decoder outputs means :math:`m`, :math:`\log p(x|z) = \sum_i
\log N(x_i; m_i, s_i^2)`; the scale is fixed (``obs_scale=s``, one value for every
coordinate) or, with ``obs_scale=None``, learned: one free log-scale per output coordinate,
initialised at :math:`s_i = 1`, independent of :math:`z` (for the real-valued circle data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, Normal, constraints, kl_divergence

from hvae._validation import check_choice, check_int, check_number, fail
from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.sampling import KAPPA_GRADIENTS

__all__ = ["LATENTS", "LIKELIHOODS", "PointMass", "Terms", "VAE", "mlp"]

#: Supported latent spaces.
LATENTS: tuple[str, ...] = ("normal", "vmf", "vmf-fixed", "ae")
#: Supported observation models.
LIKELIHOODS: tuple[str, ...] = ("bernoulli", "gaussian")

_MIN_SCALE = 1e-6  # floor of the N-VAE posterior standard deviation
_LOG_2PI = math.log(2.0 * math.pi)


class Terms(NamedTuple):
    """Per-example terms of the ELBO: ``elbo = rec - kl``."""

    rec: torch.Tensor  #: reconstruction log-likelihood log p(x|z), z ~ q(z|x), shape (n,)
    kl: torch.Tensor  #: KL(q(z|x) || p(z)), shape (n,)


class PointMass(Distribution):
    """A point mass at ``loc`` (the "posterior" of a deterministic auto-encoder).

    Sampling returns ``loc`` (with gradients); it has no density, so ``log_prob`` raises.
    """

    arg_constraints = {"loc": constraints.real_vector}
    has_rsample = True

    def __init__(self, loc: torch.Tensor, validate_args: bool | None = None) -> None:
        self.loc = loc
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=validate_args)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.real_vector

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return torch.zeros_like(self.loc)

    def rsample(self, sample_shape: Sequence[int] = ()) -> torch.Tensor:
        return self.loc.expand(torch.Size(sample_shape) + self.loc.shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a point mass has no density")


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, each followed by a ReLU."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


def _checked_args(
    latent: Any,
    manifold_dim: Any,
    hidden: Sequence[int],
    input_dim: Any,
    likelihood: Any,
    beta: Any,
    kappa: Any,
    obs_scale: Any,
) -> tuple[tuple[int, ...], float, float | None, float | None]:
    """Validate :class:`VAE`'s arguments; return (hidden, beta, kappa, obs_scale) normalised."""
    check_choice(latent, "latent", LATENTS)
    check_choice(likelihood, "likelihood", LIKELIHOODS)
    check_int(manifold_dim, "manifold_dim", minimum=1)
    check_int(input_dim, "input_dim", minimum=1)
    hidden = tuple(hidden)
    if not hidden:
        raise fail("hidden", "at least one hidden layer size", hidden)
    for i, h in enumerate(hidden):
        check_int(h, f"hidden[{i}]", minimum=1)
    beta = check_number(beta, "beta", nonnegative=True)
    if latent == "vmf-fixed":
        if kappa is None:
            raise fail("kappa", "a fixed concentration > 0 for latent 'vmf-fixed'", kappa)
        kappa = check_number(kappa, "kappa", positive=True)
    elif kappa is not None:
        raise fail("kappa", f"None for latent {latent!r} (only 'vmf-fixed' fixes it)", kappa)
    if obs_scale is not None:
        if likelihood != "gaussian":
            raise fail("obs_scale", "None for a 'bernoulli' likelihood", obs_scale)
        obs_scale = check_number(obs_scale, "obs_scale", positive=True)
    return hidden, beta, kappa, obs_scale


class VAE(nn.Module):
    r"""A VAE (or plain auto-encoder) with an MLP encoder and decoder.

    Args:
        latent: ``"normal"`` (N-VAE), ``"vmf"`` (S-VAE with learned κ), ``"vmf-fixed"``
            (S-VAE with κ fixed to ``kappa``) or ``"ae"`` (deterministic auto-encoder).
        manifold_dim: the paper's *d*, the dimension of the latent manifold (R^d for
            ``normal`` and ``ae``, the sphere S^d in R^(d+1) for ``vmf``/``vmf-fixed``); see
            :attr:`code_dim`.
        hidden: encoder hidden layer sizes (the decoder uses them reversed).
        input_dim: length of an observation (784 for MNIST, 100 for the circle data).
        likelihood: ``"bernoulli"`` (decoder outputs logits) or ``"gaussian"`` (means).
        beta: weight of the KL term in :meth:`loss` (>= 0; 1 is the ELBO).
        kappa: the fixed concentration of ``"vmf-fixed"`` (required there, refused elsewhere).
        obs_scale: Gaussian likelihood only: a fixed observation standard deviation, or
            ``None`` to learn one per output coordinate.
        kappa_gradient: ``"vmf"`` only: the gradient of a draw in κ, ``"implicit"`` (unbiased,
            the default) or ``"proposal"`` (through Wood's accepted proposal only, the biased
            estimator of the paper's code; see :class:`hvae.distributions.VonMisesFisher`).
        dim: the former name of ``manifold_dim`` (configs saved before the rename use it).

    Raises:
        ValueError: for an unknown ``latent`` or ``likelihood``, ``manifold_dim < 1``, bad
            sizes,
            ``beta < 0``, a missing/invalid/misplaced ``kappa``, ``obs_scale`` or
            ``kappa_gradient``.
    """

    def __init__(
        self,
        latent: str,
        manifold_dim: int | None = None,
        hidden: Sequence[int] = (256, 128),
        input_dim: int = 784,
        likelihood: str = "bernoulli",
        beta: float = 1.0,
        kappa: float | None = None,
        obs_scale: float | None = None,
        *,
        kappa_gradient: str = "implicit",
        dim: int | None = None,
    ) -> None:
        super().__init__()
        if dim is not None:
            if manifold_dim is not None:
                raise fail("dim", "omitted when manifold_dim is given (it is its old name)", dim)
            manifold_dim = dim
        hidden, beta, kappa, obs_scale = _checked_args(
            latent, manifold_dim, hidden, input_dim, likelihood, beta, kappa, obs_scale
        )
        self.latent = latent
        self.manifold_dim = manifold_dim
        self.hidden = hidden
        self.input_dim = input_dim
        self.likelihood = likelihood
        self.beta = beta
        self.kappa = kappa
        self.obs_scale = obs_scale
        check_choice(kappa_gradient, "kappa_gradient", KAPPA_GRADIENTS)
        if kappa_gradient != "implicit" and latent != "vmf":
            raise fail("kappa_gradient", f"'implicit' for latent {latent!r} (only 'vmf' learns "
                       "kappa)", kappa_gradient)
        self.kappa_gradient = kappa_gradient
        spherical = latent in ("vmf", "vmf-fixed")
        self._code_dim = manifold_dim + 1 if spherical else manifold_dim

        self.encoder = mlp((input_dim, *hidden))
        self.loc_head = nn.Linear(hidden[-1], self._code_dim)
        if latent == "normal":
            self.scale_head = nn.Linear(hidden[-1], manifold_dim)
        elif latent == "vmf":
            self.kappa_head = nn.Linear(hidden[-1], 1)
        self.decoder = nn.Sequential(
            mlp((self._code_dim, *reversed(hidden))), nn.Linear(hidden[0], input_dim)
        )
        if likelihood == "gaussian" and obs_scale is None:
            self.log_obs_scale = nn.Parameter(torch.zeros(input_dim))
        self._priors: dict[tuple[torch.device, torch.dtype], Distribution] = {}

    # ---------------------------------------------------------------- description
    @property
    def code_dim(self) -> int:
        """Length of a code: ``manifold_dim + 1`` (ambient R^(d+1)) for the S-VAE, else
        ``manifold_dim``."""
        return self._code_dim

    @property
    def spherical(self) -> bool:
        """Whether the codes live on the unit sphere (``vmf`` and ``vmf-fixed``)."""
        return self.latent in ("vmf", "vmf-fixed")

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable); ``VAE(**model.config)`` rebuilds it."""
        return {
            "latent": self.latent,
            "manifold_dim": self.manifold_dim,
            "hidden": list(self.hidden),
            "input_dim": self.input_dim,
            "likelihood": self.likelihood,
            "beta": self.beta,
            "kappa": self.kappa,
            "obs_scale": self.obs_scale,
            "kappa_gradient": self.kappa_gradient,
        }

    def extra_repr(self) -> str:
        return f"latent={self.latent!r}, manifold_dim={self.manifold_dim}, code_dim={self.code_dim}"

    # ---------------------------------------------------------------- encoder
    def _heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(location, spread) of q(z|x) from the encoder features ``h``: (μ, σ) for the
        N-VAE, (unit μ, κ) for the S-VAE, (code, None) for the AE."""
        loc = self.loc_head(h)
        if self.latent == "normal":
            return loc, F.softplus(self.scale_head(h)) + _MIN_SCALE
        if self.spherical:
            return F.normalize(loc, dim=-1), self._concentration(h, loc)
        return loc, None

    def _concentration(self, h: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """κ = softplus(linear(h)) + 1 (``vmf``) or the fixed κ (``vmf-fixed``)."""
        if self.latent == "vmf":
            return F.softplus(self.kappa_head(h)).squeeze(-1) + 1.0
        return loc.new_full(loc.shape[:-1], self.kappa)

    def _posterior(self, loc: torch.Tensor, spread: torch.Tensor | None) -> Distribution:
        """The posterior distribution object for the parameters from :meth:`_heads`."""
        if self.latent == "normal":
            return Independent(Normal(loc, spread, validate_args=False), 1, validate_args=False)
        if self.spherical:
            return VonMisesFisher(loc, spread, validate_args=False,
                                  kappa_gradient=self.kappa_gradient)
        return PointMass(loc, validate_args=False)

    def encode(self, x: torch.Tensor) -> Distribution:
        """The approximate posterior q(z|x), batch shape ``x.shape[:-1]``, event (code_dim,).

        An ``Independent(Normal)`` for the N-VAE, a ``VonMisesFisher`` for the S-VAE and a
        :class:`PointMass` for the auto-encoder.
        """
        return self._posterior(*self._heads(self.encoder(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic codes, shape (n, code_dim): μ for the N-VAE and the AE, the mean
        *direction* μ (a unit vector) for the S-VAE."""
        return self._heads(self.encoder(x))[0]

    # ---------------------------------------------------------------- prior
    def prior(
        self, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> Distribution:
        """The prior p(z) (batch shape (), event (code_dim,)): N(0, I) or uniform on S^d
        (d = ``manifold_dim``).

        Raises ``ValueError`` for the auto-encoder, which has no prior.
        """
        if self.latent == "ae":
            raise ValueError("latent 'ae': a plain auto-encoder has no prior")
        ref = self.loc_head.weight
        key = (torch.device(device) if device is not None else ref.device, dtype or ref.dtype)
        if key not in self._priors:
            if self.latent == "normal":
                zeros = torch.zeros(self.manifold_dim, device=key[0], dtype=key[1])
                self._priors[key] = Independent(
                    Normal(zeros, torch.ones_like(zeros), validate_args=False),
                    1,
                    validate_args=False,
                )
            else:
                self._priors[key] = HypersphericalUniform(
                    self.code_dim, device=key[0], dtype=key[1], validate_args=False
                )
        return self._priors[key]

    def sample_prior(self, n: int) -> torch.Tensor:
        """``n`` codes drawn from the prior, shape (n, code_dim), on the model's device."""
        check_int(n, "n", minimum=1)
        return self.prior().sample((n,))

    def kl(self, q: Distribution) -> torch.Tensor:
        r"""KL(q(z|x) || p(z)) per example, in closed form.

        N-VAE: :math:`\tfrac12\sum_j (\mu_j^2 + \sigma_j^2 - 1 - 2\log\sigma_j)`. S-VAE: the
        registered vMF-vs-uniform divergence (a constant for ``vmf-fixed``). AE: 0.
        """
        if self.latent == "normal":
            loc, scale = q.base_dist.loc, q.base_dist.scale
            return 0.5 * (loc.square() + scale.square() - 1.0).sum(-1) - scale.log().sum(-1)
        if self.spherical:
            return kl_divergence(q, self.prior(q.loc.device, q.loc.dtype))
        return q.loc.new_zeros(q.batch_shape)

    # ---------------------------------------------------------------- decoder
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for codes ``z`` (..., code_dim): Bernoulli logits or Gaussian means."""
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over coordinates, given the decoder output ``out`` = decode(z).

        ``out`` may carry extra leading (sample) dimensions; ``x`` broadcasts against it.
        """
        if self.likelihood == "bernoulli":
            return (x * out - F.softplus(out)).sum(-1)
        if self.obs_scale is None:
            log_s = self.log_obs_scale
            resid = (x - out) * torch.exp(-log_s)
            return -(0.5 * resid.square() + log_s).sum(-1) - 0.5 * self.input_dim * _LOG_2PI
        resid = (x - out) / self.obs_scale
        const = self.input_dim * (math.log(self.obs_scale) + 0.5 * _LOG_2PI)
        return -0.5 * resid.square().sum(-1) - const

    # ---------------------------------------------------------------- objective
    def terms(self, x: torch.Tensor) -> Terms:
        """Per-example reconstruction term log p(x|z), z ~ q(z|x) (one sample), and KL."""
        z, kl = self._sample_with_kl(self.encoder(x))
        return Terms(self.log_likelihood(x, self.decode(z)), kl)

    def _sample_with_kl(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One reparameterised draw z ~ q(z|x) and KL(q(z|x) || p(z)), per example, from the
        encoder features ``h`` (for the S-VAE through the operators of :mod:`hvae.ops`)."""
        q = self._posterior(*self._heads(h))
        return q.rsample(), self.kl(q)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example single-sample ELBO estimate ``rec - kl`` (unweighted: beta is ignored)."""
        rec, kl = self.terms(x)
        return rec - kl

    def loss(self, x: torch.Tensor, kl_weight: float | None = None) -> torch.Tensor:
        r"""Mean over the batch of :math:`-(\mathrm{RE} - w\,\mathrm{KL})`, a scalar to minimise.

        ``kl_weight`` is :math:`w`; ``None`` means ``self.beta`` (the trainer passes
        ``beta`` times the warm-up factor).
        """
        rec, kl = self.terms(x)
        w = self.beta if kl_weight is None else kl_weight
        if self.latent == "ae":
            return -rec.mean()
        return (w * kl - rec).mean()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`loss` with the default KL weight."""
        return self.loss(x)
