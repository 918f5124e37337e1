r"""Training M2 (:class:`~hvae.semisupervised.model.M2`): Adam, KL warm-up, early stopping,
atomic checkpoints, exact resumption.

**One epoch** is a pass over the unlabelled points in shuffled batches of ``batch_size`` (a
pass over the labelled ones when every point is labelled); each step adds
``labelled_batch_size`` labelled points, drawn in turn from a shuffled list of them (with
100 labels and 3,400 unlabelled points each label is seen about 34 times per epoch), and
minimises :meth:`~hvae.semisupervised.model.M2.loss` with the KL weight
:func:`hvae.train.kl_weight` of the step.

**Inputs z1** come from ``train_codes``: a fixed (n, input_dim) tensor, or a callable
``codes(epoch) -> tensor`` that draws them afresh each epoch (:func:`code_sampler`: a new
binarisation of the images and a new draw from M1's posterior q(z1 | x), as in Kingma et al.,
whose M2 sees samples of z1, not means). The validation codes should come from the same
law, one fixed draw (:func:`code_sampler` called once), so that the validation bound scores
the model on inputs like those it trains on; the test accuracy is then taken at M1's
posterior mean direction (``VAE.embed``), the code a user of M1 would classify.

**Randomness** of epoch e (batch order, z1 and z2 draws) comes from seeds derived from
(``seed``, e) only, so a checkpoint needs no random state: a resumed run repeats exactly the
epochs an uninterrupted one would have run.

**Model selection** (``select_on``): ``"bound"`` keeps the epoch of the best mean validation
bound :math:`\mathcal{U}` (label-free; what a user with 100 labels can afford) and
``"accuracy"`` the epoch of the best validation accuracy (which spends the validation labels).
Both are logged every epoch. The validation bound is evaluated with fixed random numbers
(``val_seed``), so epochs compare fairly, and always with the full KL: so only the epochs
after the KL warm-up (epoch >= ``warmup_epochs``) may be selected, and early stopping's
patience counts from the end of the warm-up (the bound of a warm-up epoch scores a model
trained on another objective).

**Files** of ``out_dir``: ``checkpoint.pt`` (self-checking, as in :mod:`hvae.train`),
``history.json`` and ``config.json``, each written atomically after every epoch, under the
directory's run lock.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hvae._io import run_lock
from hvae._runstate import epoch_seed, load_selected, save_state, start_state, state_copy
from hvae._validation import check_choice, check_int, check_number, check_seed, fail
from hvae.data import as_tensor, fixed_binarization
from hvae.evaluate import cluster_accuracy
from hvae.semisupervised.model import M2, UNLABELLED, check_labels, default_alpha
from hvae.train import (
    CHECKPOINT,
    TrainingDivergedError,
    kl_weight,
)

__all__ = ["SELECTION", "M2Config", "M2Result", "code_sampler", "fit_m2", "load_m2",
           "m2_accuracy"]

#: Model-selection criteria of :class:`M2Config` (``select_on``).
SELECTION: tuple[str, ...] = ("bound", "accuracy")
_RESUMABLE = frozenset({"epochs", "device"})
_Codes = torch.Tensor | Callable[[int], torch.Tensor]


@dataclass
class M2Config:
    """Training settings of M2 (defaults: Kingma et al.'s where they give one).

    Attributes:
        epochs: maximum number of epochs.
        batch_size: unlabelled points per step.
        labelled_batch_size: labelled points per step (fewer if there are fewer labels).
        lr: Adam's learning rate (Kingma et al.: 3e-4).
        alpha: weight of the classification term; None: ``0.1 * n_train``.
        warmup_epochs: linear KL warm-up length in epochs (0: none).
        patience: stop after this many epochs without a better selection score (None: never).
        select_on: ``"bound"`` or ``"accuracy"`` (see the module docstring).
        seed: seed of the initialisation and of every epoch's random numbers.
        val_seed: seed of the validation bound's random numbers.
        device: ``"cpu"``, ``"cuda"``, ...

    Raises:
        ValueError: naming the attribute, for a bad value.
    """

    epochs: int = 200
    batch_size: int = 100
    labelled_batch_size: int = 100
    lr: float = 3e-4
    alpha: float | None = None
    warmup_epochs: float = 10.0
    patience: int | None = 50
    select_on: str = "bound"
    seed: int = 0
    val_seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "labelled_batch_size"):
            check_int(getattr(self, name), name, minimum=1)
        check_number(self.lr, "lr", positive=True)
        if self.alpha is not None:
            check_number(self.alpha, "alpha", nonnegative=True)
        check_number(self.warmup_epochs, "warmup_epochs", nonnegative=True)
        if self.patience is not None:
            check_int(self.patience, "patience", minimum=1)
        check_choice(self.select_on, "select_on", SELECTION)
        check_seed(self.seed)
        check_seed(self.val_seed, "val_seed")


@dataclass
class M2Result:
    """What :func:`fit_m2` returns; ``model`` holds the parameters of the selected epoch."""

    model: M2
    history: list[dict[str, float]]
    best_epoch: int  #: 1-based epoch selected by ``config.select_on``
    best_score: float
    epochs_run: int
    stopped_early: bool
    out_dir: Path | None
    config: M2Config


def code_sampler(m1: torch.nn.Module, images: np.ndarray | torch.Tensor, seed: int = 0,
                 batch_size: int = 1000) -> Callable[[int], torch.Tensor]:
    """``codes(epoch)``: z1 ~ q(z1 | x) of the trained VAE ``m1`` for every image, from a
    fresh binarisation; both seeded by (``seed``, epoch), so every call for one epoch gives
    the same codes (and a resumed run the same inputs)."""
    x_all = as_tensor(images)

    @torch.no_grad()
    def codes(epoch: int) -> torch.Tensor:
        s = epoch_seed(seed, epoch) + 1
        x = fixed_binarization(x_all, s)
        was_training = m1.training
        m1.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            z = torch.cat([m1.encode(x[i:i + batch_size]).sample()
                           for i in range(0, x.shape[0], batch_size)])
        m1.train(was_training)
        return z

    return codes


@torch.no_grad()
def m2_accuracy(model: M2, codes: torch.Tensor, labels: Any, *, clustering: bool = False
                ) -> float:
    """Accuracy of q(y | z1)'s most probable class; ``clustering=True``: after the best
    matching of classes to labels (:func:`hvae.evaluate.cluster_accuracy`), for a model
    trained without labels."""
    pred = model.predict(codes).cpu().numpy()
    labels = np.asarray(labels)
    if clustering:
        return cluster_accuracy(labels, pred)
    return float(np.mean(pred == labels))


def _validation(model: M2, codes: torch.Tensor, labels: np.ndarray | None, config: M2Config,
                clustering: bool) -> dict[str, float]:
    was_training = model.training
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.val_seed)
        bound = float(model.unlabelled_bound(codes).mean())
    model.train(was_training)
    record = {"val_bound": bound}
    if labels is not None:
        record["val_accuracy"] = m2_accuracy(model, codes, labels, clustering=clustering)
    return record


def _batches(y: torch.Tensor, config: M2Config, gen: torch.Generator) -> list[torch.Tensor]:
    """The index batches of one epoch (see the module docstring)."""
    unl = torch.nonzero(y == UNLABELLED).squeeze(1)
    lab = torch.nonzero(y != UNLABELLED).squeeze(1)
    unl = unl[torch.randperm(unl.numel(), generator=gen)]
    lab = lab[torch.randperm(lab.numel(), generator=gen)]
    if unl.numel() == 0:
        return list(lab.split(config.labelled_batch_size))
    per_step = min(config.labelled_batch_size, lab.numel())
    out = []
    for i, chunk in enumerate(unl.split(config.batch_size)):
        if per_step:
            pos = torch.arange(i * per_step, (i + 1) * per_step) % lab.numel()
            chunk = torch.cat([chunk, lab[pos]])
        out.append(chunk)
    return out


def _train_epoch(model: M2, optimizer: torch.optim.Optimizer, codes: _Codes, y: torch.Tensor,
                 config: M2Config, epoch: int, alpha: float, device: torch.device) -> float:
    """One epoch (0-based ``epoch``); returns the mean loss."""
    seed = epoch_seed(config.seed, epoch)
    z1 = (codes(epoch) if callable(codes) else codes).to(device)
    model.check_codes(z1, "train_codes")
    batches = _batches(y, config, torch.Generator().manual_seed(seed))
    share = float((y != UNLABELLED).float().mean())
    y = y.to(device)
    torch.manual_seed(seed)
    model.train()
    total = 0.0
    for i, idx in enumerate(batches):
        w = kl_weight(1.0, config.warmup_epochs, epoch, (i + 1) / len(batches))
        loss = model.loss(z1[idx.to(device)], y[idx.to(device)], alpha=alpha,
                          labelled_share=share, kl_weight=w)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDivergedError(f"epoch {epoch + 1}: training diverged (the loss is "
                                        f"{value}); the learning rate {config.lr:g} is "
                                        "probably too high")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += value
    return total / len(batches)


def fit_m2(
    model: M2,
    train_codes: _Codes,
    train_labels: Any,
    val_codes: torch.Tensor,
    val_labels: Any = None,
    config: M2Config | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    run_info: Mapping[str, Any] | None = None,
) -> M2Result:
    """Train ``model`` and return it with the parameters of the selected epoch.

    Args:
        model: an untrained (or resumed) :class:`M2`.
        train_codes: (n, input_dim) codes, or ``codes(epoch)`` (:func:`code_sampler`).
        train_labels: (n,) classes, -1 for unlabelled points (all -1: clustering).
        val_codes: (m, input_dim) fixed validation codes.
        val_labels: (m,) their classes, for the logged (and ``"accuracy"``-selected)
            validation accuracy; None: no accuracy (``select_on`` must be ``"bound"``).
        config: the settings (default ``M2Config()``).
        out_dir: run directory (checkpoint, history, config); None: no files.
        resume: continue from ``out_dir/checkpoint.pt``.
        progress: a progress bar over the epochs.
        run_info: extra JSON entries of ``config.json`` (``data`` is compared on resuming).

    Raises:
        ValueError: naming the argument, for bad labels or codes; on resuming, a checkpoint of
            another model, data or settings.
        BlockingIOError: if another live run holds ``out_dir``.
        hvae.train.CheckpointError: if the checkpoint to resume from is unusable.
        hvae.train.TrainingDivergedError: if the loss becomes NaN or infinite.
    """
    config = config or M2Config()
    device = torch.device(config.device)
    first = train_codes(0) if callable(train_codes) else as_tensor(train_codes)
    model.check_codes(first, "train_codes")
    y = check_labels(train_labels, model.n_classes, first.shape[0])
    val = model.check_codes(as_tensor(val_codes), "val_codes").to(device)
    if val_labels is None and config.select_on == "accuracy":
        raise fail("val_labels", "given when select_on is 'accuracy'", None)
    val_y = None if val_labels is None else np.asarray(val_labels)
    clustering = not bool((y != UNLABELLED).any())
    alpha = config.alpha if config.alpha is not None else default_alpha(first.shape[0])
    # epoch 0's draw is the one just made (checked above); later epochs draw afresh
    codes = (lambda e: first if e == 0 else train_codes(e)) if callable(train_codes) else first
    out = Path(out_dir) if out_dir is not None else None
    if resume and (out is None or not (out / CHECKPOINT).is_file()):
        raise fail("resume", "given with an out_dir holding a checkpoint", out)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    full_config = {"model": model.config, "train": asdict(config), **(run_info or {})}
    key = "val_accuracy" if config.select_on == "accuracy" else "val_bound"
    lock = run_lock(out, "choose another out_dir") if out is not None else contextlib.nullcontext()
    with lock:
        run = start_state(model, optimizer, out, full_config, resume, _RESUMABLE)
        bar = tqdm(total=config.epochs, initial=run["epoch"], desc="M2 epochs",
                   disable=not progress)
        first_eligible = min(math.ceil(config.warmup_epochs), config.epochs)
        while run["epoch"] < config.epochs and not _patience_over(run, config, first_eligible):
            tic = time.perf_counter()
            loss = _train_epoch(model, optimizer, codes, y, config, run["epoch"], alpha, device)
            record = _validation(model, val, val_y, config, clustering)
            run["epoch"] += 1
            run["history"].append({"epoch": run["epoch"], "train_loss": loss, **record,
                                   "time_s": time.perf_counter() - tic})
            if run["epoch"] >= first_eligible and record[key] > run["best_score"]:
                run.update(best_epoch=run["epoch"], best_score=record[key],
                           best_state=state_copy(model))
            if out is not None:
                save_state(out, model, optimizer, run, full_config)
            bar.set_postfix(loss=f"{loss:.2f}", **{key: f"{record[key]:.3f}"})
            bar.update(1)
        bar.close()
    model.load_state_dict(run["best_state"])
    return M2Result(model, run["history"], run["best_epoch"], run["best_score"], run["epoch"],
                    _patience_over(run, config, first_eligible), out, config)


def _patience_over(run: Mapping[str, Any], config: M2Config, first_eligible: int) -> bool:
    """Whether ``config.patience`` epochs have passed without a better score, counted from
    the best epoch or, before one, from the end of the warm-up."""
    start = max(run["best_epoch"], first_eligible)
    return config.patience is not None and run["epoch"] - start >= config.patience


def load_m2(run_dir: str | os.PathLike[str], map_location: Any = "cpu") -> M2:
    """The M2 of a run directory with the parameters of its selected epoch.

    Raises:
        FileNotFoundError: if there is no checkpoint; hvae.train.CheckpointError: if it is
            unusable.
    """
    return load_selected(run_dir, M2, "an M2", map_location)
