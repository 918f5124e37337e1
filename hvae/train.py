r"""Training loop: Adam, KL warm-up, early stopping, atomic checkpoints and exact resumption.

The protocol is that of the paper's MNIST experiments (Davidson et al., 2018): Adam with
learning rate 1e-3, batches of 64 dynamically binarised images, the negative ELBO with a
linearly warmed-up KL weight

.. math::
   w = \beta \cdot \min\!\Big(1, \frac{e + i/n}{W}\Big)

at step ``i = 1..n`` of epoch ``e = 0, 1, ...``, ``W = warmup_epochs`` (``W = 0``: no warm-up),
and early stopping on the validation ELBO: training stops once ``patience`` epochs have passed
without a better validation ELBO, and the best parameters are put back into the model.

**Validation ELBO** is computed on one fixed binarisation of the validation images
(seed ``val_seed``) with posterior samples drawn from ``val_seed`` inside
``torch.random.fork_rng``: it is the same function of the parameters at every epoch (common
random numbers, so epochs compare fairly) and it does not disturb the training random stream.

**Checkpoints.** With ``out_dir`` set, after every epoch the run directory receives, each
written atomically (temporary file + ``os.replace``):

* ``checkpoint.pt``: model and optimiser state, number of finished epochs, the random states
  (torch CPU and CUDA, numpy, python ``random``, and the two generators of the data loader:
  shuffling order and binarisation), the best state so far, the history and the config;
* ``history.json``: one record per epoch (train loss, validation ELBO/RE/KL, KL weight,
  seconds);
* ``config.json``: the model and training configuration (plus ``run_info``).

``resume=True`` restores all of it and continues, so that an interrupted run ends with exactly
the parameters of an uninterrupted one (on the same machine and device). Only ``epochs`` and
``device`` may differ between the original and the resumed configuration.

**Integrity.** ``checkpoint.pt`` is a header line ``hvae-sha256:<digest>`` and then the
``torch.save`` archive, written together atomically; every load (:func:`load_checkpoint`,
hence :func:`load_model`, resuming, ``hvae evaluate``, the experiments) checks the digest. A
flipped bit, a truncated, empty or foreign file, weights that do not fit their model or a
``config.json`` describing another model is a :class:`CheckpointError` naming the file.
Checkpoints from before the header (a bare archive, starting ``PK``) load unchecked; resuming
one rewrites it with a digest. Read checkpoints with :func:`load_checkpoint`, not ``torch.load``.

**One run per directory.** While :func:`train` writes into ``out_dir`` it holds an exclusive
``flock`` on ``out_dir/.lock`` (the file is removed at the end; one left by a killed run holds
no lock); a second run there fails at once with a :class:`BlockingIOError` naming the holder.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hvae._io import (
    read_digested,
    remove_stale_parts,
    run_lock,
    write_digested,
    write_json,
)
from hvae.data import as_tensor, fixed_binarization, make_loader
from hvae.evaluate import elbo_terms

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "HISTORY",
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "kl_weight",
    "load_checkpoint",
    "load_model",
    "model_from_checkpoint",
    "seed_everything",
    "train",
    "train_epoch",
]

#: File of a run directory holding the model, optimiser, RNG states and progress (atomic writes).
CHECKPOINT = "checkpoint.pt"
#: File of a run directory holding the per-epoch losses and validation ELBO terms.
HISTORY = "history.json"
#: File of a run directory holding the model and training settings (and the caller's run_info).
CONFIG = "config.json"

_RESUMABLE_CHANGES = frozenset({"epochs", "device"})


class TrainingDivergedError(FloatingPointError):
    """The training loss or the validation ELBO became NaN or infinite: the run cannot recover,
    so it stops at once (nothing of the diverged epoch is saved) instead of finishing with the
    untrained initialisation as its "best" model."""


class CheckpointError(ValueError):
    """A run's checkpoint cannot be used: damaged (its SHA-256 does not match), truncated,
    empty, not a checkpoint, or its weights or ``config.json`` do not fit its model. The
    message is one line naming the file; the file is left as it is."""


def _diverged(epoch: int, what: str, value: float, lr: float) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"epoch {epoch}: training diverged ({what} is {value}); the learning rate {lr:g} is "
        "probably too high"
    )


def _params_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _diverged_error(model: torch.nn.Module, err: ValueError) -> bool:
    """Whether a ValueError of the loss path is divergence: NaN/inf weights, or a vMF
    concentration the encoder computed as NaN/inf (finite but huge weights overflow), refused by
    the sampler ("kappa: ...") or by the Bessel operator it reaches first ("x: ...")."""
    return not _params_finite(model) or str(err).startswith(("kappa:", "x:"))


@dataclass
class TrainConfig:
    """Training hyper-parameters (defaults: the paper's protocol).

    Attributes:
        epochs: maximum number of epochs (in total, counting those before a resume).
        batch_size: mini-batch size.
        lr: Adam learning rate.
        warmup_epochs: length of the linear KL warm-up in epochs (0: none).
        patience: stop after this many epochs without a better validation ELBO (None: never).
        seed: seeds torch/numpy/random at the start and the data loader.
        binarize: dynamically binarise the training images (False for real-valued data).
        val_seed: seed of the fixed validation binarisation and validation samples.
        eval_batch_size: batch size for the validation pass.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    warmup_epochs: float = 100.0
    patience: int | None = 50
    seed: int = 0
    binarize: bool = True
    val_seed: int = 0
    eval_batch_size: int = 1000
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr: must be a finite number > 0, got {self.lr!r}")
        if not (self.warmup_epochs >= 0 and math.isfinite(self.warmup_epochs)):
            raise ValueError(f"warmup_epochs: must be >= 0, got {self.warmup_epochs!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"patience: must be a positive integer or None, got {self.patience!r}")


@dataclass
class TrainResult:
    """What :func:`train` returns; ``model`` holds the best parameters."""

    model: torch.nn.Module
    history: list[dict[str, float]]
    best_epoch: int  #: 1-based epoch of the best validation ELBO
    best_val_elbo: float
    epochs_run: int  #: epochs finished in total (including those before a resume)
    stopped_early: bool
    out_dir: Path | None
    config: TrainConfig


def kl_weight(beta: float, warmup_epochs: float, epoch: int, fraction: float) -> float:
    """KL weight ``beta * min(1, (epoch + fraction) / warmup_epochs)``; ``beta`` if no warm-up."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, (epoch + fraction) / warmup_epochs)


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global RNG is what we must seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Random states and atomic files
# --------------------------------------------------------------------------------------------


def _loader_generators(loader: DataLoader) -> dict[str, torch.Generator]:
    """The generators behind :func:`hvae.data.make_loader`'s shuffling and binarisation."""
    gens = {"draws": loader.dataset.generator}
    order = getattr(loader.sampler.sampler, "generator", None)  # BatchSampler -> RandomSampler
    if order is not None:
        gens["order"] = order
    return gens


def _rng_state(loader: DataLoader) -> dict[str, Any]:
    """All random states as tensors and plain python values (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    version, py_state, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(py_state), gauss_next],
        "loader": {k: g.get_state() for k, g in _loader_generators(loader).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any], loader: DataLoader) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    numpy_state = (kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached)
    np.random.set_state(numpy_state)  # noqa: NPY002
    version, py_state, gauss_next = state["python"]
    random.setstate((version, tuple(py_state), gauss_next))
    for name, gen in _loader_generators(loader).items():
        gen.set_state(state["loader"][name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


_CHECKPOINT_KEYS = frozenset({"model", "optimizer", "rng", "progress", "config"})
_ZIP_MAGIC = b"PK\x03\x04"  # a bare torch.save archive: a checkpoint from before the digests


def load_checkpoint(run_dir: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load ``run_dir/checkpoint.pt`` after checking its SHA-256 (``weights_only``: plain
    tensors and python values); checkpoints from before the digests load unchecked.

    Raises:
        FileNotFoundError: if the directory or the checkpoint does not exist.
        CheckpointError: if the checkpoint is damaged, truncated, empty or not a checkpoint, or
            ``config.json`` describes another model.
    """
    run_dir = Path(run_dir)
    path = _existing_checkpoint(run_dir)
    try:
        payload, _ = read_digested(path, legacy_magic=_ZIP_MAGIC)
    except ValueError as err:
        raise CheckpointError(f"{err}; retrain the run or restore the file") from None
    try:
        ckpt = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 (whatever a damaged archive makes torch raise)
        raise CheckpointError(f"{path}: not a readable checkpoint ({_one_line(err)})") from None
    if not (isinstance(ckpt, dict) and _CHECKPOINT_KEYS <= set(ckpt)
            and isinstance(ckpt["config"], dict) and isinstance(ckpt["config"].get("model"), dict)):
        raise CheckpointError(f"{path}: not a checkpoint of hvae.train (no model, progress and "
                              "config in it)")
    _check_config_file(run_dir, ckpt["config"]["model"])
    return ckpt


def _existing_checkpoint(run_dir: Path) -> Path:
    """``run_dir/checkpoint.pt``; FileNotFoundError saying what is missing if it does not exist."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no checkpoint ({CHECKPOINT})")
    return path


def _one_line(err: BaseException, limit: int = 300) -> str:
    """An error's message on one line (torch's state-dict errors span several), shortened."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _check_config_file(run_dir: Path, model: Mapping[str, Any]) -> None:
    """Refuse a ``config.json`` that describes another model than the checkpoint (the
    checkpoint rebuilds the model; a differing config.json means the directory was edited or
    mixes two runs)."""
    path = run_dir / CONFIG
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text())
    except ValueError as err:  # also UnicodeDecodeError
        raise CheckpointError(f"{path}: not valid JSON ({_one_line(err)})") from None
    other = saved.get("model") if isinstance(saved, dict) else None
    other, model = _model_config(other if isinstance(other, dict) else {}), _model_config(model)
    if other != model:
        diffs = ", ".join(f"{k}: {other.get(k)!r} in {CONFIG}, {model.get(k)!r} in {CHECKPOINT}"
                          for k in sorted(other.keys() | model.keys())
                          if other.get(k) != model.get(k))
        raise CheckpointError(f"{path}: describes another model than {CHECKPOINT} ({diffs}); "
                              "restore it or retrain the run")


def load_model(run_dir: str | os.PathLike[str], map_location: Any = "cpu"):
    """The trained model of a run directory, with the parameters of its best epoch.

    Raises:
        FileNotFoundError: if the directory or the checkpoint does not exist.
        CheckpointError: if the checkpoint is unusable (see :func:`load_checkpoint`).
    """
    ckpt = load_checkpoint(run_dir, map_location=map_location)
    return model_from_checkpoint(ckpt, name=str(Path(run_dir) / CHECKPOINT))


def model_from_checkpoint(ckpt: dict[str, Any], name: str = "checkpoint"):
    """Rebuild a checkpoint's model and load the parameters of its best epoch.

    Raises:
        CheckpointError: naming ``name``, if the model cannot be built from the checkpoint's
            config or its weights do not fit it.
    """
    from hvae.models import VAE  # models do not depend on training: import here, not above

    try:
        model = VAE(**_model_config(ckpt["config"]["model"]))
        model.load_state_dict(ckpt["progress"]["best_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{name}: the weights do not fit the model of its config "
                              f"({_one_line(err)})") from None
    return model


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


@dataclass
class _Progress:
    """Where a run stands after ``epoch`` finished epochs (what a checkpoint restores)."""

    epoch: int
    best_epoch: int
    best_val: float
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]

    def patience_over(self, patience: int | None) -> bool:
        return patience is not None and self.epoch - self.best_epoch >= patience


def _state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _model_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A saved model config in today's names (``dim`` was renamed ``manifold_dim``)."""
    if config is None or "dim" not in config:
        return None if config is None else dict(config)
    out = {k: v for k, v in config.items() if k != "dim"}
    out["manifold_dim"] = config["dim"]
    return out


def _check_resumable(saved: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """Refuse to resume with another model, other data (dataset, source, limit: a model
    trained on one set and continued on another is neither run) or other training settings
    (bar epochs/device)."""
    if _model_config(saved.get("model")) != _model_config(now["model"]):
        raise ValueError(
            f"resume: the model differs from the checkpoint's ({saved.get('model')} vs "
            f"{now['model']})"
        )
    old_data, new_data = saved.get("data") or {}, now.get("data") or {}
    if old_data != new_data:
        keys = sorted(k for k in old_data.keys() | new_data.keys()
                      if old_data.get(k) != new_data.get(k))
        diffs = ", ".join(f"{k}: {old_data.get(k)!r} -> {new_data.get(k)!r}" for k in keys)
        raise ValueError(f"resume: the data differ from the checkpoint's ({diffs})")
    old, new = saved["train"], now["train"]
    changed = sorted(k for k in new if k not in _RESUMABLE_CHANGES and old.get(k) != new[k])
    if changed:
        diffs = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed)
        raise ValueError(f"resume: the training settings differ from the checkpoint's ({diffs})")


def train_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    epoch: int,
    device: torch.device,
) -> tuple[float, float]:
    """One pass over ``loader`` with the KL warm-up of epoch ``epoch`` (0-based).

    Returns (mean training loss, KL weight of the last batch).
    """
    model.train()
    n_batches, total, weight = len(loader), 0.0, 0.0
    beta = float(getattr(model, "beta", 1.0))
    for i, batch in enumerate(loader):
        weight = kl_weight(beta, config.warmup_epochs, epoch, (i + 1) / n_batches)
        try:
            loss = model.loss(batch.to(device, non_blocking=True), kl_weight=weight)
        except ValueError as err:  # e.g. a vMF kappa of NaN/inf computed from NaN weights
            if not _diverged_error(model, err):
                raise
            raise _diverged(epoch + 1, "the vMF concentration kappa", math.nan, config.lr) from err
        if not math.isfinite(float(loss.detach())):
            raise _diverged(epoch + 1, "the training loss", float(loss.detach()), config.lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / n_batches, weight


def train(
    model: torch.nn.Module,
    train_images: np.ndarray | torch.Tensor,
    val_images: np.ndarray | torch.Tensor,
    config: TrainConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    run_info: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` (a :class:`hvae.models.VAE`) and return it with its best parameters.

    Args:
        model: minimises ``model.loss(x, kl_weight=w)``; ``model.beta`` scales the KL weight.
        train_images, val_images: (n, features) intensities in [0, 1] (or real values with
            ``config.binarize=False``).
        config: hyper-parameters (default ``TrainConfig()``).
        out_dir: run directory for checkpoint, history and config (created); None: no files.
        resume: continue from ``out_dir/checkpoint.pt`` (which must exist).
        progress: show a tqdm progress bar over the epochs.
        run_info: extra JSON-serialisable entries for ``config.json`` (e.g. the data set).

    Returns:
        A :class:`TrainResult`; ``result.model is model``, loaded with the best state.

    Raises:
        BlockingIOError: if another live run holds ``out_dir`` (nothing is written).
        CheckpointError: if ``resume`` finds the checkpoint unusable (nothing is written).
        TrainingDivergedError: if the loss or validation ELBO becomes NaN or infinite.
    """
    config = config or TrainConfig()
    device = torch.device(config.device)
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise ValueError("resume: needs out_dir")
    if resume:
        _existing_checkpoint(out)  # before the lock creates the directory
    if config.binarize:
        val_x = fixed_binarization(val_images, config.val_seed)
    else:
        val_x = as_tensor(val_images)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if not resume:
        seed_everything(config.seed)
    loader = make_loader(
        train_images, config.batch_size, shuffle=True, binarize=config.binarize, seed=config.seed
    )
    full_config = {"model": getattr(model, "config", {}), "train": asdict(config)}
    full_config.update(run_info or {})
    lock = run_lock(out, "choose another out_dir") if out is not None else contextlib.nullcontext()
    with lock:  # one run per directory, from its first file to its last
        run = _start(model, optimizer, loader, out, full_config, resume)
        _loop(model, optimizer, loader, val_x, config, device, out, run, full_config, progress)
    model.load_state_dict(run.best_state)
    return TrainResult(
        model=model,
        history=run.history,
        best_epoch=run.best_epoch,
        best_val_elbo=run.best_val,
        epochs_run=run.epoch,
        stopped_early=run.patience_over(config.patience),
        out_dir=out,
        config=config,
    )


def _loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
          val_x: torch.Tensor, config: TrainConfig, device: torch.device, out: Path | None,
          run: _Progress, full_config: dict[str, Any], progress: bool) -> None:
    """The epochs from ``run.epoch`` on, until ``config.epochs`` or patience runs out;
    ``run`` is updated and, with ``out``, saved after each."""
    bar = tqdm(total=config.epochs, initial=run.epoch, desc="epochs", disable=not progress)
    while run.epoch < config.epochs and not run.patience_over(config.patience):
        tic = time.perf_counter()
        loss, weight = train_epoch(model, loader, optimizer, config, run.epoch, device)
        record = _checked_validation(model, val_x, config, run.epoch + 1)
        run.epoch += 1
        run.history.append({"epoch": run.epoch, "train_loss": loss, **record,
                            "kl_weight": weight, "time_s": time.perf_counter() - tic})
        if record["val_elbo"] > run.best_val:
            run.best_epoch, run.best_val = run.epoch, record["val_elbo"]
            run.best_state = _state_copy(model)
        if out is not None:
            _save(out, model, optimizer, loader, run, full_config)
        bar.set_postfix(loss=f"{loss:.2f}", val_elbo=f"{record['val_elbo']:.2f}",
                        best=run.best_epoch)
        bar.update(1)
    bar.close()


def _start(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
           out: Path | None, full_config: dict[str, Any], resume: bool) -> _Progress:
    """The progress a run starts from: the checkpoint's (``resume``) or a fresh one; writes
    ``config.json``."""
    if out is not None:  # leftovers of a killed writer (SIGKILL skips atomic_output's clean-up)
        remove_stale_parts(out)
    if resume:
        ckpt = load_checkpoint(out)  # on the CPU: RNG states must stay there
        _check_resumable(ckpt["config"], full_config)
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            _set_rng_state(ckpt["rng"], loader)
            run = _Progress(**ckpt["progress"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{out / CHECKPOINT}: cannot be resumed from (its state does "
                                  f"not fit the run: {_one_line(err)})") from None
    else:
        run = _Progress(0, 0, -math.inf, _state_copy(model), [])
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / CONFIG, full_config)
    return run


def _checked_validation(model: torch.nn.Module, val_x: torch.Tensor, config: TrainConfig,
                        epoch: int) -> dict[str, float]:
    """:func:`_validate`, with a non-finite ELBO or concentration reported as the divergence of
    ``epoch`` (1-based)."""
    try:
        record = _validate(model, val_x, config)
    except ValueError as err:
        if not _diverged_error(model, err):
            raise
        raise _diverged(epoch, "the vMF concentration kappa", math.nan, config.lr) from err
    if not math.isfinite(record["val_elbo"]):
        raise _diverged(epoch, "the validation ELBO", record["val_elbo"], config.lr)
    return record


def _validate(model: torch.nn.Module, val_x: torch.Tensor, config: TrainConfig
              ) -> dict[str, float]:
    """The validation ELBO and its terms (means over the validation set)."""
    rec, kl = elbo_terms(model, val_x, batch_size=config.eval_batch_size, seed=config.val_seed)
    return {"val_elbo": float((rec - kl).mean()), "val_re": float(rec.mean()),
            "val_kl": float(kl.mean())}


def _save(
    out: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    run: _Progress,
    full_config: dict[str, Any],
) -> None:
    """Write checkpoint.pt (with its SHA-256, see the module docstring) and history.json,
    each atomically."""
    ckpt = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": _rng_state(loader),
        "progress": dict(vars(run)),  # no deep copy of the tensors
        "config": full_config,
    }
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    write_digested(out / CHECKPOINT, buffer.getvalue())
    write_json(out / HISTORY, run.history)
