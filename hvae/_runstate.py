"""The state of a resumable training run whose randomness comes from per-epoch seeds.

Shared by the trainers that draw every random number of epoch e from a seed derived from
(``seed``, e) (:mod:`hvae.semisupervised.training`, :mod:`hvae.graphs.training`): their
checkpoint needs no random-number state, only the model, the optimizer and ``progress`` (the
epoch reached, the selected epoch and its parameters, the history). Files of a run directory:
``checkpoint.pt`` (self-checking: a SHA-256 header, as in :mod:`hvae.train`), ``history.json``
and ``config.json``, each written atomically.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from hvae._io import remove_stale_parts, write_digested, write_json
from hvae.train import CHECKPOINT, CONFIG, HISTORY, CheckpointError, load_checkpoint

__all__ = ["check_resumable", "epoch_seed", "load_selected", "save_state", "start_state",
           "state_copy"]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded ``seed``."""
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63 - 1)


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's parameters and buffers."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_resumable(saved: Mapping[str, Any], now: Mapping[str, Any],
                    free: Iterable[str]) -> None:
    """Refuse to resume with another model, other data or other training settings than the
    checkpoint's, bar the settings named in ``free`` (e.g. epochs, device)."""
    for part in ("model", "data"):
        if saved.get(part) != now.get(part):
            raise ValueError(f"resume: the {part} differs from the checkpoint's "
                             f"({saved.get(part)} vs {now.get(part)})")
    old, new, free = saved["train"], now["train"], set(free)
    changed = sorted(k for k in new if k not in free and old.get(k) != new[k])
    if changed:
        diffs = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed)
        raise ValueError(f"resume: the training settings differ from the checkpoint's ({diffs})")


def save_state(out: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               progress: dict[str, Any], full_config: dict[str, Any]) -> None:
    """Write the checkpoint and the history of ``out`` (atomically, one after the other)."""
    ckpt = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": {"source": "per-epoch seeds"}, "progress": progress, "config": full_config}
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    write_digested(out / CHECKPOINT, buffer.getvalue())
    write_json(out / HISTORY, progress["history"])


def start_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, out: Path | None,
                full_config: dict[str, Any], resume: bool, free: Iterable[str]
                ) -> dict[str, Any]:
    """The progress a run starts from: the checkpoint's (``resume``, after
    :func:`check_resumable`; model and optimizer restored) or a fresh one. Writes
    ``config.json`` and removes a killed writer's leftovers first."""
    if out is not None:
        remove_stale_parts(out)
    if resume:
        ckpt = load_checkpoint(out)
        check_resumable(ckpt["config"], full_config, free)
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            progress = dict(ckpt["progress"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{out / CHECKPOINT}: cannot be resumed from ({err})") from None
    else:
        progress = {"epoch": 0, "best_epoch": 0, "best_score": -math.inf,
                    "best_state": state_copy(model), "history": []}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / CONFIG, full_config)
    return progress


def load_selected(run_dir: str | os.PathLike[str], build: Callable[..., torch.nn.Module],
                  what: str, map_location: Any = "cpu") -> torch.nn.Module:
    """The model of a run directory with the parameters of its selected epoch: ``build``
    called with the checkpoint's model config (``what`` names the model in errors).

    Raises:
        FileNotFoundError: if there is no checkpoint; CheckpointError: if it is unusable.
    """
    ckpt = load_checkpoint(run_dir, map_location=map_location)
    try:
        model = build(**ckpt["config"]["model"])
        model.load_state_dict(ckpt["progress"]["best_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{Path(run_dir) / CHECKPOINT}: not {what} checkpoint "
                              f"({err})") from None
    return model
