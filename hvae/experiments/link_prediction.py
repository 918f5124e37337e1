r"""Table 4 of the paper: link prediction on citation graphs with a VGAE and an S-VGAE.

**One run** (:func:`run_link`) loads a Planetoid graph (:func:`hvae.data.load_planetoid`),
splits its edges with the run's seed (:func:`hvae.graphs.split_edges`: 85% training, 5%
validation and 10% test edges, with as many checked non-edges), trains a
:class:`hvae.graphs.GraphVAE` (``normal``: VGAE; ``vmf``: S-VGAE) on the training graph by
the reference protocol (:mod:`hvae.graphs.training`), and reports the test AUC and average
precision of the last epoch's model. It checkpoints into
``out_root/<profile>/link-<graph>-<latent>-s<seed>/`` and stores
``results_root/<profile>/link-<graph>-<latent>-s<seed>.json`` atomically, with its provenance
(code, machine, the graph files' SHA-256).

**The grid** (:data:`LINK_PROFILES`): ``full`` is the paper's set-up on the two graphs this
project can read offline, Cora and Citeseer, 10 seeds each (Pubmed's files can only be
downloaded, :func:`hvae.data.download_planetoid`); ``quick`` (the chapter's default) is Cora
with 1 seed.

**Dimensions**: the codes have 16 coordinates (``dim=16``, hvae's ambient d): the S-VGAE's
live on S^15 in R^16.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from hvae._io import write_json
from hvae._validation import check_choice, check_int, fail, resolve_device
from hvae.data import PLANETOID_SHA256, load_planetoid
from hvae.experiments.provenance import environment_record
from hvae.experiments.runs import stored_result
from hvae.experiments.stats import mean_and_sd, mean_difference
from hvae.graphs import (
    GRAPH_LATENTS,
    GraphInputs,
    GraphTrainConfig,
    GraphVAE,
    fit_graph_vae,
    link_metrics,
    split_edges,
)
from hvae.train import CHECKPOINT

__all__ = ["GRAPH_MODEL_NAMES", "LINK_FULL", "LINK_PROFILES", "LINK_QUICK", "LinkProfile",
           "link_gap", "link_result_path", "link_run_dir", "load_link_results", "run_link",
           "summarize_link_runs"]

_SCHEMA = 1
#: The paper's names of the two models, by latent.
GRAPH_MODEL_NAMES: dict[str, str] = {"normal": "VGAE", "vmf": "S-VGAE"}


@dataclass(frozen=True)
class LinkProfile:
    """Every parameter of a Table 4 set-up.

    Attributes:
        name: results go to ``<results_root>/<name>/``.
        graphs: Planetoid data set names.
        latents: ``"normal"`` (VGAE) and/or ``"vmf"`` (S-VGAE).
        seeds: seeds (the edge split, the initial weights and the draws of z).
        epochs, lr: :class:`hvae.graphs.GraphTrainConfig`.
        hidden, dim: :class:`hvae.graphs.GraphVAE` (dim: ambient, 16 coordinates).
        val_fraction, test_fraction: held-out shares of the edges.
    """

    name: str
    graphs: tuple[str, ...]
    seeds: tuple[int, ...]
    latents: tuple[str, ...] = GRAPH_LATENTS
    epochs: int = 200
    lr: float = 0.01
    hidden: int = 32
    dim: int = 16
    val_fraction: float = 0.05
    test_fraction: float = 0.10

    def __post_init__(self) -> None:
        for name in ("graphs", "seeds", "latents"):
            values = tuple(getattr(self, name))
            if not values:
                raise fail(name, "a non-empty sequence", values)
            object.__setattr__(self, name, values)
        for g in self.graphs:
            check_choice(g, "graphs", tuple(PLANETOID_SHA256))
        for latent in self.latents:
            check_choice(latent, "latents", GRAPH_LATENTS)
        for s in self.seeds:
            check_int(s, "seeds", minimum=0)
        self.train_config(self.seeds[0], "cpu")  # validates the training settings
        GraphVAE(1, hidden=self.hidden, dim=self.dim)

    def train_config(self, seed: int, device: str) -> GraphTrainConfig:
        """The :class:`hvae.graphs.GraphTrainConfig` of one run."""
        return GraphTrainConfig(epochs=self.epochs, lr=self.lr, seed=seed, device=device)

    def params(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))


#: The chapter's default: Cora, both models, 1 seed, the reference's 200 epochs.
LINK_QUICK = LinkProfile(name="quick", graphs=("cora",), seeds=(0,))
#: The paper's set-up on Cora and Citeseer (Table 4), 10 seeds per cell.
LINK_FULL = LinkProfile(name="full", graphs=("cora", "citeseer"), seeds=tuple(range(10)))
#: The Table 4 profiles by name (``python -m hvae.experiments --experiment link``).
LINK_PROFILES: dict[str, LinkProfile] = {p.name: p for p in (LINK_QUICK, LINK_FULL)}


def _link_profile(profile: str | LinkProfile) -> LinkProfile:
    if isinstance(profile, LinkProfile):
        return profile
    return LINK_PROFILES[check_choice(profile, "profile", tuple(LINK_PROFILES))]


def _stem(graph: str, latent: str, seed: int) -> str:
    return f"link-{graph}-{latent}-s{seed}"


def link_run_dir(graph: str, latent: str, seed: int, profile: str | LinkProfile,
                 out_root: str | os.PathLike = "runs") -> Path:
    """Training directory of one Table 4 run."""
    return Path(out_root) / _link_profile(profile).name / _stem(graph, latent, seed)


def link_result_path(graph: str, latent: str, seed: int, profile: str | LinkProfile,
                     results_root: str | os.PathLike = "data/results") -> Path:
    """Result file of one Table 4 run."""
    name = _link_profile(profile).name
    return Path(results_root) / name / f"{_stem(graph, latent, seed)}.json"


def run_link(latent: str, graph: str, seed: int, profile: str | LinkProfile,
             out_root: str | os.PathLike = "runs",
             results_root: str | os.PathLike = "data/results",
             device: str | torch.device | None = None, resume: bool = True,
             progress: bool = False, data_root: str | os.PathLike | None = None
             ) -> dict[str, Any]:
    """Train (or resume, or reload) and store one Table 4 run; return its result.

    Args:
        latent: ``"normal"`` (VGAE) or ``"vmf"`` (S-VGAE).
        graph: a Planetoid name of :data:`hvae.data.PLANETOID_SHA256` (``"cora"``, ...).
        seed: the edge split, the initial weights and the training draws.
        profile: a :class:`LinkProfile` or a name of :data:`LINK_PROFILES`.
        out_root, results_root, device, resume, progress: as in
            :func:`hvae.experiments.runs.run_mnist`.
        data_root: the Planetoid folder (default: :func:`hvae.data.default_planetoid_root`).

    Returns:
        A dict with ``model`` ("S-VGAE"), ``latent``, ``graph``, ``seed``, ``dim``,
        ``metrics`` (``auc``, ``ap`` on the test pairs; ``val_auc``, ``val_ap``), ``training``
        and ``provenance``.

    Raises:
        ValueError: naming the argument; a stored result of other profile parameters.
        hvae.data.PlanetoidNotFoundError: if the graph's files are not in ``data_root``.
    """
    prof = _link_profile(profile)
    latent = check_choice(latent, "latent", GRAPH_LATENTS)
    graph = check_choice(graph, "graph", tuple(PLANETOID_SHA256))
    dev = resolve_device(device)
    out_file = link_result_path(graph, latent, seed, prof, results_root)
    directory = link_run_dir(graph, latent, seed, prof, out_root)
    stored = stored_result(out_file, directory, prof) if resume else None
    if stored is not None:
        return stored
    tic = time.perf_counter()
    environment = environment_record(dev)
    data = load_planetoid(graph, data_root)
    split = split_edges(data.edges(), data.n_nodes, prof.val_fraction, prof.test_fraction, seed)
    inputs = GraphInputs(data.features, split.train, data.n_nodes, device=dev)
    torch.manual_seed(seed)
    model = GraphVAE(data.n_features, latent, hidden=prof.hidden, dim=prof.dim)
    info = {"data": {"dataset": graph, "n_nodes": data.n_nodes, "n_edges": data.n_edges,
                     "split_seed": seed}}
    fit = fit_graph_vae(model, inputs, split, prof.train_config(seed, str(dev)), directory,
                        resume=resume and (directory / CHECKPOINT).is_file(),
                        progress=progress, run_info=info)
    test, last = link_metrics(fit.model, inputs, split, "test"), fit.history[-1]
    result = {
        "schema": _SCHEMA, "experiment": "link_prediction", "model": GRAPH_MODEL_NAMES[latent],
        "latent": latent, "graph": graph, "seed": seed, "profile": prof.name,
        "dim": prof.dim, "dim_convention": "ambient (codes in R^dim; S-VGAE on S^(dim-1))",
        "metrics": {**test, "val_auc": last["val_auc"], "val_ap": last["val_ap"]},
        "training": {"epochs_run": fit.epochs_run, "final_train_loss": last["train_loss"],
                     "train_time_s": float(sum(h["time_s"] for h in fit.history))},
        "provenance": {**environment, "profile": prof.name, "profile_params": prof.params(),
                       "data": {**info["data"], "source": data.source,
                                "sha256": PLANETOID_SHA256[graph],
                                "split_sizes": {k: int(len(getattr(split, k))) for k in
                                                ("train", "val", "val_non_edges", "test",
                                                 "test_non_edges")}},
                       "wall_time_s": time.perf_counter() - tic, "run_dir": str(directory)},
    }
    write_json(out_file, result)
    return result


def load_link_results(profile: str | LinkProfile,
                      results_root: str | os.PathLike = "data/results") -> list[dict[str, Any]]:
    """Every stored Table 4 run of ``profile``, sorted by (graph, latent, seed)."""
    directory = Path(results_root) / _link_profile(profile).name
    results = [json.loads(p.read_text()) for p in sorted(directory.glob("link-*.json"))]
    return sorted(results, key=lambda r: (r["graph"], r["latent"], r["seed"]))


def summarize_link_runs(results) -> dict[tuple[str, str], dict[str, Any]]:
    """Mean and sample standard deviation (``ddof=1``; nan for one run) of the test AUC and
    AP over seeds, per (graph, latent): ``{"n_runs", "seeds", "auc": {"mean", "std"},
    "ap": {...}}``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["graph"], r["latent"]), []).append(r)
    out = {}
    for key in sorted(groups):
        entry: dict[str, Any] = {"n_runs": len(groups[key]),
                                 "seeds": sorted(r["seed"] for r in groups[key])}
        for metric in ("auc", "ap"):
            entry[metric] = mean_and_sd(r["metrics"][metric] for r in groups[key])
        out[key] = entry
    return out


def link_gap(summary, metric: str = "auc", n_se: float = 2.0) -> dict[str, dict[str, Any]]:
    """S-VGAE minus VGAE of ``metric`` per graph holding both, with its standard error over
    independent seeds (Welch) and the call at ``n_se`` standard errors: ``{"diff", "se",
    "ahead"}``, ``ahead`` being "S-VGAE", "VGAE", "level" or None (fewer than two runs)."""
    metric = check_choice(metric, "metric", ("auc", "ap"))
    out = {}
    for graph in sorted({k[0] for k in summary}):
        if (graph, "vmf") in summary and (graph, "normal") in summary:
            diff, se, call = mean_difference(summary[(graph, "vmf")],
                                             summary[(graph, "normal")], metric, n_se)
            ahead = None if call is None else {1: "S-VGAE", -1: "VGAE", 0: "level"}[call]
            out[graph] = {"diff": diff, "se": se, "ahead": ahead}
    return out
