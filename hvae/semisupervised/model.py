r"""Kingma et al.'s (2014) M2 model on the codes of a trained VAE: a classifier trained jointly
with a generative model of the codes, from a few labels and many unlabelled points.

**The model.** The data are codes :math:`z_1` of a first VAE (M1, an N-VAE or S-VAE of
:mod:`hvae.models`), a class :math:`y \in \{0, \dots, K-1\}`, seen for few points, and a
latent :math:`z_2`:

.. math::
   p(y) = \tfrac1K, \qquad p(z_2) = N(0, I) \text{ or uniform on } S^{d_2},

   p(z_1 \mid y, z_2) = \text{Gaussian or vMF},

with the inference networks :math:`q(y \mid z_1)` (the *classifier*, or *segmenter*: it
splits the code space into labelled regions) and :math:`q(z_2 \mid z_1, y)` (Normal or vMF).

**The bounds.** For a labelled point,

.. math::
   \log p(z_1, y) \ge \mathcal{L}(z_1, y) = {}& \mathbb{E}_{q(z_2|z_1,y)}[\log p(z_1|y,z_2)]
   + \log p(y) \\
   &- \mathrm{KL}(q(z_2|z_1,y) \,\|\, p(z_2));

for an unlabelled one, with :math:`y` integrated out under :math:`q(y|z_1)`,

.. math::
   \log p(z_1) \ge \mathcal{U}(z_1) = \sum_{y=0}^{K-1} q(y|z_1)\, \mathcal{L}(z_1, y)
   + \mathcal{H}(q(y|z_1)).

:math:`y` takes K values, so the sum is computed exactly (each point is paired with every
class in one batch of :math:`nK` rows); no score-function estimator is needed. The KL term is
in closed form, the expectation is one reparameterised draw of :math:`z_2`.

**The loss** (Kingma et al., eq. 9) adds a classification term on the labelled points, which
the bounds alone lack (:math:`q(y|z_1)` appears only in :math:`\mathcal{U}`):

.. math::
   J = \frac{n_l}{n}\,\overline{\big[-\mathcal{L}(z_1, y) - \alpha \log q(y|z_1)\big]}_{l}
     + \frac{n_u}{n}\,\overline{\big[-\mathcal{U}(z_1)\big]}_{u},

bars being means over a batch's labelled (l) and unlabelled (u) points; Kingma et al.
take :math:`\alpha = 0.1\,n` (:func:`default_alpha`).

**The likelihood of z1** must fit the space the codes live in: ``"gaussian"`` (a diagonal
Normal with a learned mean and scale per coordinate) for an N-VAE's codes in R^d, ``"vmf"``
for an S-VAE's codes on S^d in R^(d+1). A Gaussian has no density on the sphere: on codes of
unit norm its likelihood grows without bound as its scale shrinks towards the sphere, so the
pairing is refused (:meth:`M2.check_codes`).

**Dimensions.** ``manifold_dim`` is the paper's d of z2 (R^d, or S^d in R^(d+1)), as in
:class:`hvae.models.VAE`; ``input_dim`` is the *length* of a code z1 (an S-VAE's ``code_dim``,
d + 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from hvae._validation import check_choice, check_int, check_number, fail
from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.models import mlp

__all__ = ["CODE_LIKELIHOODS", "M2", "M2_LATENTS", "UNLABELLED", "check_labels",
           "default_alpha"]

#: Likelihoods p(z1 | y, z2) for the codes of an N-VAE (``gaussian``) or an S-VAE (``vmf``).
CODE_LIKELIHOODS: tuple[str, ...] = ("gaussian", "vmf")
#: Latent spaces of z2: Normal with a N(0, I) prior, vMF with the uniform prior on the sphere.
M2_LATENTS: tuple[str, ...] = ("normal", "vmf")
#: The label of an unlabelled point.
UNLABELLED = -1

_MIN_SCALE = 1e-3  # floor of the Gaussian scales (of z2's posterior and of z1's likelihood)
_UNIT_TOL = 1e-3  # |norm - 1| below which a code counts as a point of the sphere


def default_alpha(n_train: int) -> float:
    """Kingma et al.'s weight of the classification term, ``0.1 * n_train``."""
    return 0.1 * check_int(n_train, "n_train", minimum=1)


def check_labels(labels: Any, n_classes: int, n: int | None = None) -> torch.Tensor:
    """Labels as an int64 tensor, checked: each in 0..K-1 or -1 (unlabelled), and either no
    labelled point (clustering) or at least one per class.

    Raises:
        ValueError: naming ``labels``, for a wrong length, a label out of range, or labelled
            points that miss a class.
    """
    y = torch.as_tensor(labels)
    if y.ndim != 1 or (n is not None and y.shape[0] != n) or y.is_floating_point():
        raise fail("labels", f"a 1-D integer array of length {n if n is not None else 'n'}",
                   f"dtype {y.dtype}, shape {tuple(y.shape)}")
    y = y.long()
    bad = (y < UNLABELLED) | (y >= n_classes)
    if bool(bad.any()):
        raise fail("labels", f"in 0..{n_classes - 1} or -1 (unlabelled)",
                   int(y[bad][0]))
    labelled = y[y != UNLABELLED]
    if labelled.numel():
        missing = sorted(set(range(n_classes)) - set(labelled.tolist()))
        if missing:
            raise fail("labels", f"at least one labelled point per class ({n_classes} classes; "
                       "or none, to cluster)",
                       f"{labelled.numel()} labelled points, none of class {missing[0]}")
    return y


class M2(nn.Module):
    r"""M2 (Kingma et al., 2014) on codes z1 of length ``input_dim``.

    Args:
        n_classes: K >= 2.
        input_dim: the length of a code z1 (an S-VAE's ``code_dim`` = d + 1).
        likelihood: p(z1 | y, z2): ``"gaussian"`` (codes in R^d) or ``"vmf"`` (codes on the
            unit sphere); see the module docstring.
        latent: z2's space: ``"normal"`` (prior N(0, I)) or ``"vmf"`` (uniform prior).
        manifold_dim: the paper's d of z2 (R^d or S^d in R^(d+1)).
        hidden: hidden layer sizes of each of the three networks.

    Raises:
        ValueError: naming the argument, for K < 2, unknown ``likelihood`` or ``latent``, bad
            sizes, or ``likelihood="vmf"`` with ``input_dim < 2``.
    """

    def __init__(self, n_classes: int, input_dim: int, likelihood: str, latent: str,
                 manifold_dim: int, hidden: Sequence[int] = (500,)) -> None:
        super().__init__()
        self.n_classes = check_int(n_classes, "n_classes", minimum=2)
        self.input_dim = check_int(input_dim, "input_dim", minimum=2 if likelihood == "vmf"
                                   else 1)
        self.likelihood = check_choice(likelihood, "likelihood", CODE_LIKELIHOODS)
        self.latent = check_choice(latent, "latent", M2_LATENTS)
        self.manifold_dim = check_int(manifold_dim, "manifold_dim", minimum=1)
        self.hidden = tuple(check_int(h, "hidden", minimum=1) for h in hidden)
        if not self.hidden:
            raise fail("hidden", "at least one hidden layer size", hidden)
        k, h = self.n_classes, self.hidden
        self.code_dim = manifold_dim + 1 if latent == "vmf" else manifold_dim  # length of z2
        # q(y | z1), q(z2 | z1, y), p(z1 | y, z2): each an MLP and linear heads
        self.classifier = nn.Sequential(mlp((input_dim, *h)), nn.Linear(h[-1], k))
        self.encoder = mlp((input_dim + k, *h))
        self.z2_loc = nn.Linear(h[-1], self.code_dim)
        self.z2_spread = nn.Linear(h[-1], 1 if latent == "vmf" else self.code_dim)
        self.decoder = mlp((self.code_dim + k, *reversed(h)))
        self.z1_loc = nn.Linear(h[0], input_dim)
        self.z1_spread = nn.Linear(h[0], 1 if likelihood == "vmf" else input_dim)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable); ``M2(**model.config)`` rebuilds it."""
        return {"n_classes": self.n_classes, "input_dim": self.input_dim,
                "likelihood": self.likelihood, "latent": self.latent,
                "manifold_dim": self.manifold_dim, "hidden": list(self.hidden)}

    def extra_repr(self) -> str:
        return (f"K={self.n_classes}, z1: {self.input_dim} ({self.likelihood}), "
                f"z2: {self.latent} manifold_dim={self.manifold_dim}")

    # ---------------------------------------------------------------- checks
    def check_codes(self, z1: torch.Tensor, name: str = "z1") -> torch.Tensor:
        """``z1`` checked against the model: shape (n, input_dim), finite, and in the space
        of the likelihood (unit rows for ``"vmf"``; not all unit rows for ``"gaussian"``).

        Raises:
            ValueError: naming ``name``.
        """
        if z1.ndim != 2 or z1.shape[1] != self.input_dim:
            raise fail(name, f"a (n, {self.input_dim}) array of codes", tuple(z1.shape))
        if not bool(torch.isfinite(z1).all()):
            raise fail(name, "finite codes", "NaN or infinite entries")
        off = (z1.norm(dim=1) - 1.0).abs()
        if self.likelihood == "vmf" and bool((off > _UNIT_TOL).any()):
            raise fail(name, "codes on the unit sphere for likelihood 'vmf' (an S-VAE's)",
                       f"a row of norm {float(z1[off.argmax()].norm()):.4g}")
        if self.likelihood == "gaussian" and z1.shape[0] > 1 and bool((off < _UNIT_TOL).all()):
            raise fail(name, "codes in R^d for likelihood 'gaussian' (a Gaussian has no density "
                       "on the sphere: use 'vmf' for an S-VAE's codes)", "rows all of unit norm")
        return z1

    # ---------------------------------------------------------------- networks
    def classify(self, z1: torch.Tensor) -> torch.Tensor:
        """Logits of q(y | z1), shape (n, K)."""
        return self.classifier(z1)

    def predict(self, z1: torch.Tensor) -> torch.Tensor:
        """The most probable class under q(y | z1), shape (n,)."""
        with torch.no_grad():
            return self.classify(z1).argmax(-1)

    def _one_hot(self, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.one_hot(y, self.n_classes).to(like.dtype)

    def posterior(self, z1: torch.Tensor, y: torch.Tensor) -> Distribution:
        """q(z2 | z1, y) for classes ``y`` (n,): a diagonal Normal or a vMF."""
        h = self.encoder(torch.cat([z1, self._one_hot(y, z1)], -1))
        return self._distribution(self.latent, self.z2_loc(h), self.z2_spread(h))

    def code_likelihood(self, z2: torch.Tensor, y: torch.Tensor) -> Distribution:
        """p(z1 | y, z2): a diagonal Normal or a vMF over codes of length ``input_dim``."""
        h = self.decoder(torch.cat([z2, self._one_hot(y, z2)], -1))
        kind = "normal" if self.likelihood == "gaussian" else "vmf"
        return self._distribution(kind, self.z1_loc(h), self.z1_spread(h))

    @staticmethod
    def _distribution(kind: str, loc: torch.Tensor, spread: torch.Tensor) -> Distribution:
        """Normal(loc, softplus(spread) + floor) or vMF(unit loc, softplus(spread) + 1)."""
        if kind == "normal":
            scale = F.softplus(spread) + _MIN_SCALE
            return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)
        kappa = F.softplus(spread).squeeze(-1) + 1.0
        return VonMisesFisher(F.normalize(loc, dim=-1), kappa, validate_args=False)

    def prior(self, like: torch.Tensor) -> Distribution:
        """p(z2): N(0, I) or uniform on S^d (d = ``manifold_dim``)."""
        if self.latent == "vmf":
            return HypersphericalUniform(self.code_dim, device=like.device, dtype=like.dtype,
                                         validate_args=False)
        zeros = like.new_zeros(self.code_dim)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1,
                           validate_args=False)

    # ---------------------------------------------------------------- bounds
    def labelled_elbo(self, z1: torch.Tensor, y: torch.Tensor, kl_weight: float = 1.0,
                      sample: bool = True) -> torch.Tensor:
        r""":math:`\mathcal{L}(z_1, y)` per point, shape (n,): one reparameterised draw of z2
        (``sample=False``: z2 at the posterior's mean direction / mean, a deterministic
        surrogate for checks), the KL to p(z2) in closed form weighted by ``kl_weight``."""
        q = self.posterior(z1, y)
        z2 = q.rsample() if sample else q.mean if self.latent == "normal" else q.loc
        kl = kl_divergence(q, self.prior(z1))
        return (self.code_likelihood(z2, y).log_prob(z1) - math.log(self.n_classes)
                - kl_weight * kl)

    def class_elbos(self, z1: torch.Tensor, kl_weight: float = 1.0,
                    sample: bool = True) -> torch.Tensor:
        r""":math:`\mathcal{L}(z_1, y)` for every class, shape (n, K): the n points paired
        with each of the K classes in one batch of nK rows."""
        n, k = z1.shape[0], self.n_classes
        y = torch.arange(k, device=z1.device).repeat(n)
        elbo = self.labelled_elbo(z1.repeat_interleave(k, 0), y, kl_weight, sample)
        return elbo.view(n, k)

    def unlabelled_bound(self, z1: torch.Tensor, kl_weight: float = 1.0,
                         sample: bool = True) -> torch.Tensor:
        r""":math:`\mathcal{U}(z_1) = \sum_y q(y|z_1)\mathcal{L}(z_1,y) + \mathcal{H}(q(y|z_1))`
        per point, shape (n,), with y enumerated exactly."""
        log_q = F.log_softmax(self.classify(z1), -1)
        q = log_q.exp()
        return (q * self.class_elbos(z1, kl_weight, sample)).sum(-1) - (q * log_q).sum(-1)

    def loss(self, z1: torch.Tensor, y: torch.Tensor, *, alpha: float,
             labelled_share: float, kl_weight: float = 1.0) -> torch.Tensor:
        r"""The objective J of a batch (a scalar to minimise; see the module docstring).

        Args:
            z1: codes (n, input_dim); y: their labels, -1 for unlabelled points.
            alpha: weight of the classification term (>= 0).
            labelled_share: :math:`n_l / n` of the whole training set, weighting the labelled
                mean against the unlabelled one (1 - share).
            kl_weight: the warm-up weight of the KL terms.
        """
        alpha = check_number(alpha, "alpha", nonnegative=True)
        labelled = y != UNLABELLED
        total = z1.new_zeros(())
        if bool(labelled.any()):
            zl, yl = z1[labelled], y[labelled]
            ce = F.cross_entropy(self.classify(zl), yl, reduction="none")
            total = total + labelled_share * (alpha * ce
                                              - self.labelled_elbo(zl, yl, kl_weight)).mean()
        if bool((~labelled).any()):
            total = total - (1.0 - labelled_share) * self.unlabelled_bound(
                z1[~labelled], kl_weight).mean()
        return total
