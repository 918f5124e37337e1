"""The experiment profiles: every parameter of a set-up of the MNIST runs, by name.

The **profiles** fix every parameter of an experiment (:class:`Profile`, :data:`PROFILES`):

* ``quick`` (the chapters' default): the bundled 5k subset (3,500 / 500 / 1,000 digits), 3
  epochs with a 1-epoch KL warm-up, no early stopping, d in {2, 5, 10}, one seed, 20
  importance samples; one (model, d, seed) run takes a few seconds on a CPU.
* ``full`` (the paper's protocol): full MNIST when it is in ``data/mnist/`` (else the subset,
  which the stored ``data.source`` then says), all five d in {2, 5, 10, 20, 40}, KL warm-up
  over 100 epochs, early stopping with a patience of 50 epochs (at most 1000 epochs), 500
  importance samples, 3 seeds; run it on a GPU (``--device cuda``).
* ``full-proposal-gradient`` and ``quick-proposal-gradient``: the S-VAE of ``full`` (d in
  {2, 5, 10}) and of ``quick`` trained with the gradient in kappa of the paper's code, through
  Wood's accepted proposal only (biased; chapter 3), for the ablation against ``full``/``quick``.

``dims`` are the paper's *d*, the dimension of the latent *manifold*, as in
:class:`hvae.models.VAE` (the S-VAE with d lives on S^d inside R^(d+1)).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from hvae._validation import check_choice, check_int, fail
from hvae.experiments.paper import PAPER_LATENTS
from hvae.sampling import KAPPA_GRADIENTS
from hvae.train import TrainConfig

__all__ = ["FULL", "FULL_PROPOSAL", "PROFILES", "QUICK", "QUICK_PROPOSAL", "Profile",
           "get_profile"]

#: The MNIST sources :func:`hvae.data.load_mnist` knows.
_SOURCES = ("auto", "mnist", "mnist-5k-subset")


def _ints(values: Any, name: str, minimum: int, what: str) -> tuple[int, ...]:
    """``values`` as a tuple of Python ints >= ``minimum``; the error names the whole tuple."""
    values = tuple(values)
    try:
        return tuple(check_int(v, name, minimum=minimum) for v in values)
    except ValueError:
        raise fail(name, what, values) from None


@dataclass(frozen=True)
class Profile:
    """Every parameter of one experiment set-up (see the module docstring).

    Attributes:
        name: the profile's name; results go to ``<results_root>/<name>/``.
        dims: the paper's d values (latent manifold dimensions).
        seeds: training seeds (model initialisation, batch order, binarisation).
        epochs: maximum number of training epochs.
        warmup_epochs: length of the linear KL warm-up (epochs, 0: none).
        patience: early stopping patience in epochs (None: no early stopping).
        iw_samples: importance samples for the test log-likelihood (LL).
        batch_size: training mini-batch size.
        lr: Adam learning rate.
        knn_labels: numbers of labelled training digits for the k-NN classifier.
        knn_k: neighbours of the k-NN classifier.
        hidden: encoder hidden sizes (the decoder mirrors them); the paper's is (256, 128).
        source: MNIST source for :func:`hvae.data.load_mnist` (``"auto"``: the full set if
            present, else the 5k subset; ``"mnist"``; ``"mnist-5k-subset"``).
        eval_seed: seed of the test binarisation and of the evaluation's posterior samples.
        latents: the models the command line runs (``"normal"``, ``"vmf"``).
        kappa_gradient: the S-VAE's gradient in kappa (:class:`hvae.models.VAE`):
            ``"implicit"`` (unbiased, this package's) or ``"proposal"`` (through Wood's
            accepted proposal only, the biased estimator the paper's code trained with).

    Raises:
        ValueError: for a bad parameter (``"name: must be ..., got ..."``).
    """

    name: str
    dims: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    warmup_epochs: float
    patience: int | None
    iw_samples: int
    batch_size: int = 64
    lr: float = 1e-3
    knn_labels: tuple[int, ...] = (100, 600, 1000)
    knn_k: int = 5
    hidden: tuple[int, ...] = (256, 128)
    source: str = "auto"
    eval_seed: int = 0
    latents: tuple[str, ...] = ("normal", "vmf")
    kappa_gradient: str = "implicit"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name or (
                "\\" in self.name or self.name.startswith(".") or self.name != self.name.strip()):
            # the name is a directory under the roots: no separators, no '.', '..', hidden names
            raise fail("name", "a non-empty name without '/' or '\\', not starting with '.'",
                       self.name)
        for field_name in ("dims", "seeds", "knn_labels", "hidden", "latents"):
            value = tuple(getattr(self, field_name))
            object.__setattr__(self, field_name, value)  # lists -> tuples (frozen, hashable)
            if not value and field_name in ("dims", "seeds", "hidden", "latents"):
                raise fail(field_name, "a non-empty sequence", value)
        dims = _ints(self.dims, "dims", 1, "positive integers (the paper's d)")
        object.__setattr__(self, "dims", dims)
        labels = _ints(self.knn_labels, "knn_labels", 10,
                       "integers >= 10 (at least one label per class)")
        object.__setattr__(self, "knn_labels", labels)
        object.__setattr__(self, "iw_samples", check_int(self.iw_samples, "iw_samples", minimum=1))
        check_choice(self.source, "source", _SOURCES)
        for latent in self.latents:
            check_choice(latent, "latents", PAPER_LATENTS)
        check_choice(self.kappa_gradient, "kappa_gradient", KAPPA_GRADIENTS)
        self.train_config(self.seeds[0], "cpu")  # validates epochs, warm-up, patience, lr, ...

    def train_config(self, seed: int, device: str) -> TrainConfig:
        """The :class:`hvae.train.TrainConfig` of one run."""
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            warmup_epochs=self.warmup_epochs,
            patience=self.patience,
            seed=seed,
            binarize=True,
            device=device,
        )

    def params(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


#: The chapters' default: seconds per run on a CPU.
QUICK = Profile(
    name="quick",
    dims=(2, 5, 10),
    seeds=(0,),
    epochs=3,
    warmup_epochs=1.0,
    patience=None,
    iw_samples=20,
    source="mnist-5k-subset",
)

#: The paper's protocol (Davidson et al., 2018, Section 5.2; see the module docstring).
#: ``epochs`` is only a cap: early stopping (patience 50) ends the runs.
FULL = Profile(
    name="full",
    dims=(2, 5, 10, 20, 40),
    seeds=(0, 1, 2),
    epochs=1000,
    warmup_epochs=100.0,
    patience=50,
    iw_samples=500,
    source="auto",
)

#: The gradient ablation: the S-VAE of :data:`FULL` at d in {2, 5, 10} trained with the
#: paper code's gradient in kappa (through the accepted proposal only), against FULL's.
FULL_PROPOSAL = replace(FULL, name="full-proposal-gradient", dims=(2, 5, 10), latents=("vmf",),
                        kappa_gradient="proposal")
#: :data:`FULL_PROPOSAL`'s counterpart of :data:`QUICK`.
QUICK_PROPOSAL = replace(QUICK, name="quick-proposal-gradient", latents=("vmf",),
                         kappa_gradient="proposal")

#: The profiles by name (``python -m hvae.experiments --profile NAME``).
PROFILES: dict[str, Profile] = {p.name: p for p in (QUICK, FULL, QUICK_PROPOSAL, FULL_PROPOSAL)}


def get_profile(profile: str | Profile) -> Profile:
    """``profile`` itself if it is a :class:`Profile`, else the named one of :data:`PROFILES`.

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(profile, Profile):
        return profile
    return PROFILES[check_choice(profile, "profile", tuple(PROFILES))]
