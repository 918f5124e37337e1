r"""The MNIST experiments of the paper (Tables 1 and 2): profiles, runs, stored results.

Two **profiles** fix every parameter of an experiment (:class:`Profile`, :data:`PROFILES`):

* ``quick`` (the chapters' default): the bundled 5k subset (3,500 / 500 / 1,000 digits), 3
  epochs with a 1-epoch KL warm-up, no early stopping, d in {2, 5, 10}, one seed, 20
  importance samples; one (model, d, seed) run takes a few seconds on a CPU.
* ``full`` (the paper's protocol): full MNIST when it is in ``data/mnist/`` (else the subset,
  which the stored ``data.source`` then says), all five d in {2, 5, 10, 20, 40}, KL warm-up
  over 100 epochs, early stopping with a patience of 50 epochs (at most 1000 epochs), 500
  importance samples, 3 seeds; run it on a GPU (``--device cuda``).

**Dimension convention.** ``dim`` is always the paper's *d*, the dimension of the latent
*manifold*, as in :class:`hvae.models.VAE`: the N-VAE with ``dim=d`` has codes in R^d, the
S-VAE with ``dim=d`` lives on S^d inside R^(d+1) (``code_dim = d + 1``). Every stored result
says so (``"dim_convention": "paper (manifold)"``).

**One run** (:func:`run_mnist`) trains a model with :func:`hvae.train.train`, checkpointing
into ``out_root/<profile>/<latent>-d<dim>-s<seed>/`` (so an interrupted run resumes where it
stopped), evaluates it on the test split (Table 1: LL with the profile's importance samples,
ELBO, RE, KL, in nats; Table 2: k-NN accuracy from the latent codes with 100 / 600 / 1000
labelled training digits) and writes ``results_root/<profile>/mnist-<latent>-d<dim>-s<seed>.json``
atomically, with its provenance (git commit, date, device, versions, profile parameters, data
source and split sizes, wall time, epochs run, best epoch). A run whose result file and
training checkpoint both exist is not recomputed (``resume=True``): :func:`run_mnist` returns
the stored result.

Evaluation seeds: the test images are binarised once and the posterior samples drawn with the
profile's ``eval_seed`` (the same for every run, so runs are compared on the same data); the
labelled subset of the k-NN classifier is drawn with the run's seed (a class-balanced subset of
the training split, :func:`hvae.evaluate.balanced_subset`), so that the spread over seeds
includes the choice of labels.

**Command line** (``make reproduce``)::

    python -m hvae.experiments --profile full --device cuda [--dims 2 5] [--seeds 0 1]

loops over latent in (normal, vmf) x dims x seeds, skipping runs whose result and checkpoint
exist.

:func:`paper_table1` and :func:`paper_table2` give the published numbers (reference data, not
results of this package) for side-by-side tables.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hvae
from hvae._io import write_json
from hvae.data import load_mnist
from hvae.evaluate import evaluate, fixed_binarization, knn_accuracy, latent_codes
from hvae.models import VAE
from hvae.train import CHECKPOINT, TrainConfig, seed_everything, train

__all__ = [
    "DIM_CONVENTION",
    "FULL",
    "LATENTS",
    "METRICS",
    "MODEL_NAMES",
    "PAPER_TABLE2_SIGNIFICANT",
    "PROFILES",
    "QUICK",
    "Profile",
    "get_profile",
    "load_results",
    "main",
    "PAPER_HEADLINE",
    "headline_verdict",
    "model_gap",
    "paper_table1",
    "paper_table2",
    "result_path",
    "run_dir",
    "run_mnist",
    "summarize",
]

#: The two latent spaces of Tables 1 and 2 (``hvae.models.VAE``'s names).
LATENTS: tuple[str, ...] = ("normal", "vmf")
#: The paper's names of the models.
MODEL_NAMES: dict[str, str] = {"normal": "N-VAE", "vmf": "S-VAE"}
#: Stored in every result: ``dim`` is the paper's d (the latent manifold's dimension).
DIM_CONVENTION = "paper (manifold)"
#: Table 1's columns (nats, means over the test split).
METRICS: tuple[str, ...] = ("LL", "ELBO", "RE", "KL")
_SCHEMA = 1


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


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

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name != self.name.strip():
            raise ValueError(f"name: must be a non-empty name without '/', got {self.name!r}")
        for field_name in ("dims", "seeds", "knn_labels", "hidden"):
            value = tuple(getattr(self, field_name))
            object.__setattr__(self, field_name, value)  # lists -> tuples (frozen, hashable)
            if not value and field_name in ("dims", "seeds", "hidden"):
                raise ValueError(f"{field_name}: must not be empty")
        for d in self.dims:
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise ValueError(f"dims: must be positive integers, got {self.dims!r}")
        if self.iw_samples < 1:
            raise ValueError(f"iw_samples: must be >= 1, got {self.iw_samples!r}")
        if any(n < 10 for n in self.knn_labels):
            raise ValueError(
                f"knn_labels: need at least one label per class, got {self.knn_labels}"
            )
        if self.source not in ("auto", "mnist", "mnist-5k-subset"):
            raise ValueError(f"source: unknown MNIST source {self.source!r}")
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

PROFILES: dict[str, Profile] = {p.name: p for p in (QUICK, FULL)}


def get_profile(profile: str | Profile) -> Profile:
    """``profile`` itself if it is a :class:`Profile`, else the named one of :data:`PROFILES`.

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"profile: must be one of {tuple(PROFILES)}, got {profile!r}")
    return PROFILES[profile]


def _profile_name(profile: str | Profile) -> str:
    name = profile.name if isinstance(profile, Profile) else str(profile)
    if not name or "/" in name:
        raise ValueError(f"profile: bad profile name {name!r}")
    return name


# --------------------------------------------------------------------------------------------
# Paths and small helpers
# --------------------------------------------------------------------------------------------


def _check_run_args(latent: str, dim: int) -> None:
    if latent not in LATENTS:
        raise ValueError(f"latent: must be one of {LATENTS}, got {latent!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim: must be a positive integer (the paper's d), got {dim!r}")


def run_dir(
    latent: str, dim: int, seed: int, profile: str | Profile, out_root: str | os.PathLike = "runs"
) -> Path:
    """Training directory of one run: ``out_root/<profile>/<latent>-d<dim>-s<seed>``."""
    return Path(out_root) / _profile_name(profile) / f"{latent}-d{dim}-s{seed}"


def result_path(
    latent: str,
    dim: int,
    seed: int,
    profile: str | Profile,
    results_root: str | os.PathLike = "data/results",
) -> Path:
    """Result file of one run: ``results_root/<profile>/mnist-<latent>-d<dim>-s<seed>.json``."""
    return Path(results_root) / _profile_name(profile) / f"mnist-{latent}-d{dim}-s{seed}.json"


def _git_commit() -> tuple[str, bool | None]:
    """(commit of the repository holding this package or "unknown", whether it has changes)."""
    cwd = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "unknown", None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
        return commit.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def _resolve_device(device: str | None) -> str:
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return device


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


def run_mnist(
    latent: str,
    dim: int,
    seed: int,
    profile: str | Profile,
    out_root: str | os.PathLike = "runs",
    results_root: str | os.PathLike = "data/results",
    device: str | None = None,
    resume: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Train, evaluate and store one MNIST run; return its result (the stored JSON as a dict).

    Args:
        latent: ``"normal"`` (N-VAE) or ``"vmf"`` (S-VAE).
        dim: the paper's d, the dimension of the latent manifold (the S-VAE lives on S^d in
            R^(d+1)), as in :class:`hvae.models.VAE`.
        seed: training seed (and seed of the k-NN's labelled subset).
        profile: a :class:`Profile` or the name of one of :data:`PROFILES`.
        out_root: training runs go to ``out_root/<profile>/<latent>-d<dim>-s<seed>/``.
        results_root: the result goes to ``results_root/<profile>/mnist-...json``.
        device: ``"cpu"``, ``"cuda"``, ...; None or ``"auto"``: CUDA when available.
        resume: if the result file exists and the run directory holds the run's checkpoint,
            return the result without computing anything; else, if the run directory holds a
            checkpoint, continue that training (a finished one is only reloaded). A result
            without its checkpoint (a fresh clone: ``data/results/`` is committed, ``runs/`` is
            not) is recomputed, so that every returned run has its trained model (the chapters
            draw figures from it). ``resume=False`` retrains from scratch and overwrites both.
        progress: show a progress bar over the epochs.

    Returns:
        A dict with ``latent``, ``model`` ("N-VAE"/"S-VAE"), ``dim``, ``dim_convention``,
        ``code_dim``, ``seed``, ``profile``, ``metrics`` (``LL``, ``ELBO``, ``RE``, ``KL`` in
        nats and ``knn_<n>`` accuracies in [0, 1]), ``sem`` (standard errors over the test
        digits of the Table 1 metrics), ``training`` (``epochs_run``, ``best_epoch``,
        ``best_val_elbo``, ``stopped_early``, ``resumed``, ``train_time_s``) and
        ``provenance`` (``git_commit``, ``git_dirty``, ``date_utc``, ``device``,
        ``torch_version``, ``python_version``, ``hvae_version``, ``profile``,
        ``profile_params``, ``data``, ``wall_time_s``, ``run_dir``).

    Raises:
        ValueError: for an unknown profile, latent or device, a bad ``dim``, a stored result
            or checkpoint made with other profile parameters (delete it, or use another
            ``results_root``/``out_root``).
    """
    prof = get_profile(profile)
    _check_run_args(latent, dim)
    out_file = result_path(latent, dim, seed, prof, results_root)
    directory = run_dir(latent, dim, seed, prof, out_root)
    if resume and out_file.is_file() and (directory / CHECKPOINT).is_file():
        stored = json.loads(out_file.read_text())
        if stored.get("provenance", {}).get("profile_params") != prof.params():
            raise ValueError(
                f"{out_file} was made with other parameters of profile {prof.name!r}; delete it "
                "(and its run directory) to recompute"
            )
        return stored

    tic = time.perf_counter()
    dev = _resolve_device(device)
    train_split = load_mnist(split="train", source=prof.source)
    val_split = load_mnist(split="validation", source=prof.source)
    test_split = load_mnist(split="test", source=prof.source)
    if prof.name == "full" and train_split.source != "mnist":
        warnings.warn(
            "profile 'full': full MNIST not found in data/mnist/, using the 5k subset "
            "(the results record data.source)",
            stacklevel=2,
        )

    resumed = resume and (directory / CHECKPOINT).is_file()
    seed_everything(seed)
    model = VAE(latent, dim, hidden=prof.hidden)
    info = {
        "data": {"dataset": "mnist", "source": train_split.source, "limit": None},
        "profile": prof.params(),
    }
    fit = train(
        model,
        train_split.images,
        val_split.images,
        prof.train_config(seed, dev),
        directory,
        resume=resumed,
        progress=progress,
        run_info=info,
    )

    # the test digits binarised once (with the evaluation seed), for the metrics and the codes
    x_test = fixed_binarization(test_split.images, prof.eval_seed)
    report = evaluate(fit.model, x_test, iw_samples=prof.iw_samples, binarize=False,
                      seed=prof.eval_seed)
    metrics: dict[str, float] = {k: float(report[k]["mean"]) for k in METRICS}
    sem: dict[str, float] = {k: float(report[k]["sem"]) for k in METRICS}
    if prof.knn_labels:
        train_codes = latent_codes(fit.model, train_split.images, seed=prof.eval_seed)
        test_codes = latent_codes(fit.model, x_test, binarize=False)
        for n in prof.knn_labels:
            metrics[f"knn_{n}"] = knn_accuracy(
                train_codes,
                train_split.labels,
                test_codes,
                test_split.labels,
                n,
                k=prof.knn_k,
                seed=seed,
            )

    commit, dirty = _git_commit()
    result: dict[str, Any] = {
        "schema": _SCHEMA,
        "experiment": "mnist",
        "latent": latent,
        "model": MODEL_NAMES[latent],
        "dim": dim,
        "dim_convention": DIM_CONVENTION,
        "code_dim": fit.model.code_dim,
        "seed": seed,
        "profile": prof.name,
        "metrics": metrics,
        "sem": sem,
        "iw_samples": prof.iw_samples,
        "knn_k": prof.knn_k,
        "training": {
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "best_val_elbo": fit.best_val_elbo,
            "stopped_early": fit.stopped_early,
            "resumed": resumed,
            "train_time_s": float(sum(h["time_s"] for h in fit.history)),
        },
        "provenance": {
            "git_commit": commit,
            "git_dirty": dirty,
            "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "device": _device_name(dev),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "hvae_version": hvae.__version__,
            "profile": prof.name,
            "profile_params": prof.params(),
            "data": {
                "dataset": "mnist",
                "source": train_split.source,
                "split_sizes": dict(train_split.split_sizes),
                "n_train": train_split.n,
                "n_validation": val_split.n,
                "n_test": test_split.n,
                "evaluated_on": "test",
            },
            "wall_time_s": time.perf_counter() - tic,
            "run_dir": str(directory),
        },
    }
    write_json(out_file, result)
    return result


# --------------------------------------------------------------------------------------------
# Stored results and their summary
# --------------------------------------------------------------------------------------------


def load_results(
    profile: str | Profile, results_root: str | os.PathLike = "data/results"
) -> list[dict[str, Any]]:
    """All stored MNIST runs of ``profile`` (result dicts as :func:`run_mnist` returns them),
    sorted by (latent, dim, seed); ``[]`` if there are none."""
    directory = Path(results_root) / _profile_name(profile)
    if not directory.is_dir():
        return []
    results = [json.loads(p.read_text()) for p in directory.glob("mnist-*.json")]
    return sorted(results, key=lambda r: (r["latent"], r["dim"], r["seed"]))


def summarize(results: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Mean and standard deviation over seeds of every metric, per (latent, dim).

    Returns ``{(latent, dim): {"model": "N-VAE", "n_runs": k, "seeds": [...],
    "<metric>": {"mean": m, "std": s}, ...}}`` for the metrics of ``result["metrics"]``
    (``LL``, ``ELBO``, ``RE``, ``KL``, ``knn_<n>``), keys sorted by (latent, dim). ``std`` is
    the sample standard deviation (``ddof=1``) over the runs; with a single run it is
    ``nan`` (undefined, not 0). A metric missing from some runs is summarised over the
    runs that have it.
    """
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["latent"], int(r["dim"])), []).append(r)
    summary: dict[tuple[str, int], dict[str, Any]] = {}
    for key in sorted(groups):
        runs = groups[key]
        entry: dict[str, Any] = {
            "model": MODEL_NAMES.get(key[0], key[0]),
            "n_runs": len(runs),
            "seeds": sorted(r["seed"] for r in runs),
        }
        names = sorted({m for r in runs for m in r["metrics"]}, key=_metric_order)
        for m in names:
            v = np.array([float(r["metrics"][m]) for r in runs if m in r["metrics"]])
            std = float(v.std(ddof=1)) if v.size > 1 else math.nan
            entry[m] = {"mean": float(v.mean()), "std": std}
        summary[key] = entry
    return summary


def model_gap(
    summary: Mapping[tuple[str, int], Mapping[str, Any]], metric: str = "LL", n_se: float = 2.0
) -> dict[int, dict[str, Any]]:
    r"""S-VAE minus N-VAE in ``metric``, per d, from the output of :func:`summarize`.

    Returns ``{dim: {"diff": m_S - m_N, "se": se, "ahead": call, "n_vmf": n_S,
    "n_normal": n_N}}`` for every d that has runs of both models, sorted by d. ``se`` is the
    standard error of a difference of two means over independent seeds,
    :math:`\sqrt{s_S^2/n_S + s_N^2/n_N}`; it is ``nan`` (not estimable) unless both models have
    at least two runs with the metric. ``ahead`` is ``"S-VAE"`` or ``"N-VAE"`` when the
    difference exceeds ``n_se`` standard errors in that direction, ``"level"`` when it does
    not, and ``None`` when ``se`` is ``nan``.
    """
    gaps: dict[int, dict[str, Any]] = {}
    dims = sorted({d for latent, d in summary if latent == "vmf"}
                  & {d for latent, d in summary if latent == "normal"})
    for d in dims:
        s_vmf, s_normal = summary[("vmf", d)], summary[("normal", d)]
        if metric not in s_vmf or metric not in s_normal:
            continue
        var = sum(s[metric]["std"] ** 2 / s["n_runs"] for s in (s_vmf, s_normal))
        diff, se = s_vmf[metric]["mean"] - s_normal[metric]["mean"], math.sqrt(var)
        if math.isnan(se):  # nan propagates from a single run's nan std
            ahead = None
        else:
            ahead = "S-VAE" if diff > n_se * se else "N-VAE" if diff < -n_se * se else "level"
        gaps[d] = {"diff": diff, "se": se, "ahead": ahead, "n_vmf": s_vmf["n_runs"],
                   "n_normal": s_normal["n_runs"]}
    return gaps


# The paper's headline for Table 1: the sign of S-VAE minus N-VAE in LL at each d it names.
PAPER_HEADLINE = {2: 1, 5: 1, 10: 1, 40: -1}


def headline_verdict(gaps: Mapping[int, Mapping[str, Any]]) -> str:
    """Whether the LL gaps of :func:`model_gap` bear out the paper's headline (the S-VAE ahead
    for d <= 10, the N-VAE at d = 40: :data:`PAPER_HEADLINE`), as a phrase for the prose:
    "holds ..." when every sign agrees (saying where a difference is within ``n_se`` standard
    errors, i.e. not ``ahead``), "does not hold ..." otherwise, "cannot be checked ..." when a
    d it names lacks runs of both models."""
    if not set(PAPER_HEADLINE) <= set(gaps):
        names = ", ".join(str(d) for d in PAPER_HEADLINE)
        return f"cannot be checked: not every d it names ({names}) has runs of both models"
    if any((gaps[d]["diff"] > 0) - (gaps[d]["diff"] < 0) != sign
           for d, sign in PAPER_HEADLINE.items()):
        return "does not hold on these runs"
    level = [d for d in PAPER_HEADLINE if gaps[d]["ahead"] in ("level", None)]
    if not level:
        return "holds on these runs, every difference beyond two standard errors"
    return ("holds in sign on these runs, but at d = " + ", ".join(str(d) for d in level)
            + " the difference is within two standard errors")


def _metric_order(name: str) -> tuple[int, int, str]:
    if name in METRICS:
        return (0, METRICS.index(name), name)
    if name.startswith("knn_") and name[4:].isdigit():
        return (1, int(name[4:]), name)
    return (2, 0, name)


# --------------------------------------------------------------------------------------------
# The paper's published numbers (reference data, not results)
# --------------------------------------------------------------------------------------------

# Davidson, Falorsi, De Cao, Kipf, Tomczak, "Hyperspherical Variational Auto-Encoders",
# UAI 2018, arXiv:1804.00891, Table 1 (MNIST, nats) and Table 2 (M1 + k-NN accuracy, %),
# transcribed from /work/shared/reference/paper-results.md. d is the paper's d (manifold).
# Table 1 rows: (LL, LL ±, L[q], RE, RE ±, KL, KL ±); the paper gives no ± for L[q].
_PAPER_TABLE1: dict[tuple[str, int], tuple[float, ...]] = {
    ("N-VAE", 2): (-135.73, 0.83, -137.08, -129.84, 0.91, 7.24, 0.11),
    ("N-VAE", 5): (-110.21, 0.21, -112.98, -100.16, 0.22, 12.82, 0.11),
    ("N-VAE", 10): (-93.84, 0.30, -98.36, -78.93, 0.30, 19.44, 0.14),
    ("N-VAE", 20): (-88.90, 0.26, -94.79, -71.29, 0.45, 23.50, 0.31),
    ("N-VAE", 40): (-88.93, 0.30, -94.91, -71.14, 0.56, 23.77, 0.49),
    ("S-VAE", 2): (-132.50, 0.73, -133.72, -126.43, 0.91, 7.28, 0.14),
    ("S-VAE", 5): (-108.43, 0.09, -111.19, -97.84, 0.13, 13.35, 0.06),
    ("S-VAE", 10): (-93.16, 0.31, -97.70, -77.03, 0.39, 20.67, 0.08),
    ("S-VAE", 20): (-89.02, 0.31, -96.15, -67.65, 0.43, 28.50, 0.22),
    ("S-VAE", 40): (-90.87, 0.34, -101.26, -67.75, 0.70, 33.50, 0.45),
}
# Table 2: accuracy (%) with 100, 600, 1000 labels, (N-VAE, S-VAE) per d and label count.
_PAPER_TABLE2: dict[int, dict[int, tuple[float, float]]] = {
    2: {100: (72.6, 77.9), 600: (80.8, 84.9), 1000: (81.7, 85.6)},
    5: {100: (81.8, 87.5), 600: (90.9, 92.8), 1000: (92.0, 93.4)},
    10: {100: (75.7, 80.6), 600: (88.4, 91.2), 1000: (90.2, 92.8)},
    20: {100: (71.3, 72.8), 600: (88.3, 89.1), 1000: (90.1, 91.1)},
    40: {100: (72.3, 67.7), 600: (88.0, 87.4), 1000: (90.3, 90.4)},
}
#: Table 2 entries marked significant (*) in the paper: (model, d, labels).
PAPER_TABLE2_SIGNIFICANT: frozenset[tuple[str, int, int]] = frozenset(
    {("S-VAE", d, n) for d in (2, 5, 10, 20) for n in (100, 600, 1000)} | {("N-VAE", 40, 100)}
)


def paper_table1() -> dict[tuple[str, int], dict[str, float | None]]:
    """The paper's Table 1 (arXiv:1804.00891; MNIST test set, nats), keyed by (model, d).

    ``model`` is ``"N-VAE"`` or ``"S-VAE"``, ``d`` the paper's d (manifold dimension). Each
    value: ``{"LL", "LL_pm", "ELBO", "ELBO_pm", "RE", "RE_pm", "KL", "KL_pm"}``, where
    ``*_pm`` is the ± the paper prints (None for the ELBO, printed without one). A fresh copy
    on every call.
    """
    out: dict[tuple[str, int], dict[str, float | None]] = {}
    for key, (ll, ll_pm, elbo, re, re_pm, kl, kl_pm) in _PAPER_TABLE1.items():
        out[key] = {
            "LL": ll, "LL_pm": ll_pm, "ELBO": elbo, "ELBO_pm": None,
            "RE": re, "RE_pm": re_pm, "KL": kl, "KL_pm": kl_pm,
        }  # fmt: skip
    return out


def paper_table2() -> dict[tuple[str, int], dict[int, float]]:
    """The paper's Table 2 (arXiv:1804.00891; k-NN accuracy in %), keyed by (model, d).

    Each value maps the number of labels (100, 600, 1000) to the accuracy in percent (our
    results store fractions in [0, 1]). Significance marks: :data:`PAPER_TABLE2_SIGNIFICANT`.
    """
    out: dict[tuple[str, int], dict[int, float]] = {}
    for i, model in enumerate(("N-VAE", "S-VAE")):
        for d, row in _PAPER_TABLE2.items():
            out[(model, d)] = {n: pair[i] for n, pair in row.items()}
    return out


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hvae.experiments",
        description="Run the MNIST experiments (Tables 1 and 2) of a profile; runs whose "
        "result and checkpoint exist are skipped, interrupted trainings resume from their "
        "checkpoint.",
    )
    p.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)}")
    p.add_argument("--dims", type=int, nargs="+", help="the paper's d (default: the profile's)")
    p.add_argument("--seeds", type=int, nargs="+", help="default: the profile's")
    p.add_argument("--latents", nargs="+", choices=LATENTS, default=list(LATENTS))
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--out-root", default="runs", help="training runs (checkpoints)")
    p.add_argument("--results-root", default="data/results", help="result JSON files")
    p.add_argument("--epoch-progress", action="store_true", help="a progress bar per run too")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiments of a profile; returns the exit status (1 on a bad argument)."""
    from tqdm.auto import tqdm

    args = _parser().parse_args(argv)
    try:
        prof = get_profile(args.profile)
        prof_dims = tuple(args.dims or prof.dims)
        prof_seeds = tuple(args.seeds or prof.seeds)
        device = _resolve_device(args.device)
        for d in prof_dims:
            _check_run_args(LATENTS[0], d)
    except ValueError as exc:
        print(f"hvae.experiments: error: {exc}", file=sys.stderr)
        return 1
    runs = [(lat, d, s) for lat in args.latents for d in prof_dims for s in prof_seeds]
    bar = tqdm(runs, desc=f"{prof.name} runs", unit="run")
    for latent, d, s in bar:
        done = result_path(latent, d, s, prof, args.results_root).is_file()
        bar.set_postfix_str(f"{MODEL_NAMES[latent]} d={d} seed={s}{' (stored)' if done else ''}")
        run_mnist(
            latent,
            d,
            s,
            prof,
            out_root=args.out_root,
            results_root=args.results_root,
            device=device,
            resume=True,
            progress=args.epoch_progress,
        )
    bar.close()
    print(f"{len(runs)} runs of profile {prof.name!r} in {Path(args.results_root) / prof.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
