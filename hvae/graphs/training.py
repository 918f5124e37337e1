"""Training a :class:`~hvae.graphs.models.GraphVAE` for link prediction, and its metrics.

**Protocol** (the reference code's, ``tkipf/gae``): full-batch Adam at learning rate 0.01 for
200 epochs, one draw of z per epoch, no early stopping: the model of the last epoch is the
one scored. The validation AUC and average precision are logged every epoch (they select
nothing).

**Metrics** (:func:`link_metrics`): scikit-learn's ``roc_auc_score`` and
``average_precision_score`` of the scores of the held-out edges (label 1) and non-edges
(label 0) of an :class:`~hvae.graphs.split.EdgeSplit`.

**Randomness** of epoch e (the draw of z) comes from a seed derived from (``seed``, e) only,
so a checkpoint needs no random state and a resumed run repeats the epochs an uninterrupted
one would have run, bit for bit on the same machine. **Files** of ``out_dir`` (written every
``checkpoint_every`` epochs and at the end, atomically, under the directory's run lock):
``checkpoint.pt``, ``history.json``, ``config.json`` (see :mod:`hvae.train`).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm.auto import tqdm

from hvae._io import run_lock
from hvae._runstate import epoch_seed, load_selected, save_state, start_state, state_copy
from hvae._validation import check_int, check_number, check_seed, fail
from hvae.graphs.models import GraphInputs, GraphVAE
from hvae.graphs.split import EdgeSplit
from hvae.train import CHECKPOINT, TrainingDivergedError

__all__ = ["GraphFit", "GraphTrainConfig", "fit_graph_vae", "link_metrics", "load_graph_vae"]

_RESUMABLE = frozenset({"epochs", "device", "checkpoint_every"})


@dataclass(frozen=True)
class GraphTrainConfig:
    """Training settings (defaults: the reference code's)."""

    epochs: int = 200
    lr: float = 0.01
    seed: int = 0
    checkpoint_every: int = 10
    device: str = "cpu"

    def __post_init__(self):
        check_int(self.epochs, "epochs", minimum=1)
        check_number(self.lr, "lr", positive=True)
        check_seed(self.seed, "seed")
        check_int(self.checkpoint_every, "checkpoint_every", minimum=1)


@dataclass
class GraphFit:
    """What :func:`fit_graph_vae` returns: the model of the last epoch and the history."""

    model: GraphVAE
    history: list[dict[str, float]]
    epochs_run: int
    out_dir: Path | None
    config: GraphTrainConfig


def link_metrics(model: GraphVAE, graph: GraphInputs, split: EdgeSplit, which: str = "test"
                 ) -> dict[str, float]:
    """``{"auc", "ap"}`` of the model's scores on the ``which`` ("val"/"test") pairs."""
    pairs, labels = split.pairs(which)
    was_training = model.training
    model.eval()
    scores = model.score(graph, pairs)
    model.train(was_training)
    return {"auc": float(roc_auc_score(labels, scores)),
            "ap": float(average_precision_score(labels, scores))}


def _epoch(model: GraphVAE, optimizer: torch.optim.Optimizer, graph: GraphInputs,
           config: GraphTrainConfig, epoch: int) -> float:
    torch.manual_seed(epoch_seed(config.seed, epoch))
    model.train()
    loss = model.loss(graph)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingDivergedError(f"epoch {epoch + 1}: training diverged (the loss is "
                                    f"{value}); the learning rate {config.lr:g} is probably "
                                    "too high")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value


def fit_graph_vae(
    model: GraphVAE,
    graph: GraphInputs,
    split: EdgeSplit,
    config: GraphTrainConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    run_info: Mapping[str, Any] | None = None,
) -> GraphFit:
    """Train ``model`` on the training graph ``graph`` (built from ``split.train``).

    Args:
        model: an untrained (or resumed) :class:`GraphVAE`.
        graph: :class:`GraphInputs` of the training edges, on ``config.device``.
        split: the edge split (its validation pairs are scored every epoch).
        config: the settings (default ``GraphTrainConfig()``).
        out_dir: run directory (checkpoint, history, config); None: no files.
        resume: continue from ``out_dir/checkpoint.pt``.
        progress: a progress bar over the epochs.
        run_info: extra JSON entries of ``config.json`` (``data`` is compared on resuming).

    Raises:
        ValueError: naming the argument; on resuming, a checkpoint of another model, data or
            settings. BlockingIOError: if another live run holds ``out_dir``.
        hvae.train.CheckpointError: if the checkpoint is unusable.
        hvae.train.TrainingDivergedError: if the loss becomes NaN or infinite.
    """
    config = config or GraphTrainConfig()
    if graph.n_nodes != split.n_nodes or graph.n_edges != len(split.train):
        raise fail("graph", f"the training graph of split ({split.n_nodes} nodes, "
                   f"{len(split.train)} edges)", f"{graph.n_nodes} nodes, {graph.n_edges} edges")
    out = Path(out_dir) if out_dir is not None else None
    if resume and (out is None or not (out / CHECKPOINT).is_file()):
        raise fail("resume", "given with an out_dir holding a checkpoint", out)
    model.to(torch.device(config.device))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    full_config = {"model": model.config, "train": asdict(config), **(run_info or {})}
    lock = run_lock(out, "choose another out_dir") if out is not None else contextlib.nullcontext()
    with lock:
        run = start_state(model, optimizer, out, full_config, resume, _RESUMABLE)
        bar = tqdm(total=config.epochs, initial=run["epoch"], desc="graph VAE epochs",
                   disable=not progress)
        while run["epoch"] < config.epochs:
            tic = time.perf_counter()
            loss = _epoch(model, optimizer, graph, config, run["epoch"])
            val = link_metrics(model, graph, split, "val")
            run["epoch"] += 1
            run["history"].append({"epoch": run["epoch"], "train_loss": loss,
                                   "val_auc": val["auc"], "val_ap": val["ap"],
                                   "time_s": time.perf_counter() - tic})
            if out is not None and (run["epoch"] % config.checkpoint_every == 0
                                    or run["epoch"] == config.epochs):
                run.update(best_epoch=run["epoch"], best_state=state_copy(model))
                save_state(out, model, optimizer, run, full_config)
            bar.set_postfix(loss=f"{loss:.3f}", val_auc=f"{val['auc']:.3f}")
            bar.update(1)
        bar.close()
    return GraphFit(model, run["history"], run["epoch"], out, config)


def load_graph_vae(run_dir: str | os.PathLike[str], map_location: Any = "cpu") -> GraphVAE:
    """The :class:`GraphVAE` of a run directory, with the parameters of its last checkpoint.

    Raises:
        FileNotFoundError: if there is no checkpoint; hvae.train.CheckpointError: if it is
            unusable.
    """
    return load_selected(run_dir, GraphVAE, "a graph VAE", map_location)

