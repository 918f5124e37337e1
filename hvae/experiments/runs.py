r"""One MNIST run of Tables 1 and 2: train, evaluate, store; and the stored runs read back.

**One run** (:func:`run_mnist`) trains a model with :func:`hvae.train.train`, checkpointing
into ``out_root/<profile>/<latent>-d<dim>-s<seed>/`` (so an interrupted run resumes where it
stopped), evaluates it on the test split (Table 1: LL with the profile's importance samples,
ELBO, RE, KL, in nats; Table 2: k-NN accuracy from the latent codes with 100 / 600 / 1000
labelled training digits) and writes ``results_root/<profile>/mnist-<latent>-d<dim>-s<seed>.json``
atomically, with its provenance (git commit, date, device, versions, profile parameters, data
source and split sizes, wall time, epochs run, best epoch). A run whose result file and
training checkpoint both exist is not recomputed (``resume=True``): :func:`run_mnist` returns
the stored result.

**Dimension convention.** ``dim`` is always the paper's *d*, the dimension of the latent
*manifold*, as in :class:`hvae.models.VAE`: the N-VAE with ``dim=d`` has codes in R^d, the
S-VAE with ``dim=d`` lives on S^d inside R^(d+1) (``code_dim = d + 1``). Every stored result
says so (``"dim_convention": "paper (manifold)"``).

Evaluation seeds: the test images are binarised once and the posterior samples drawn with the
profile's ``eval_seed`` (the same for every run, so runs are compared on the same data); the
labelled subset of the k-NN classifier is drawn with the run's seed (a class-balanced subset of
the training split, :func:`hvae.evaluate.balanced_subset`), so that the spread over seeds
includes the choice of labels.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import torch

from hvae._io import run_lock, write_json
from hvae._validation import check_choice, check_int, fail, resolve_device
from hvae.data import MNISTSplit, fixed_binarization, load_mnist
from hvae.evaluate import evaluate, knn_accuracy, latent_codes
from hvae.experiments.paper import METRICS, MODEL_NAMES, PAPER_LATENTS
from hvae.experiments.profiles import PROFILES, Profile, get_profile
from hvae.experiments.provenance import environment_record
from hvae.models import VAE
from hvae.train import CHECKPOINT, TrainResult, load_checkpoint, seed_everything, train

__all__ = ["DIM_CONVENTION", "load_results", "result_path", "run_dir", "run_mnist",
           "stored_result"]

#: Stored in every result: ``dim`` is the paper's d (the latent manifold's dimension).
DIM_CONVENTION = "paper (manifold)"
_SCHEMA = 1


class _Splits(NamedTuple):
    """The three MNIST splits of a run."""

    train: MNISTSplit
    validation: MNISTSplit
    test: MNISTSplit


# --------------------------------------------------------------------------------------------
# Paths and arguments
# --------------------------------------------------------------------------------------------


def _profile_name(profile: str | Profile) -> str:
    name = profile.name if isinstance(profile, Profile) else str(profile)
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise fail("profile", "a profile or a name without '/' or '\\', not starting with '.'",
                   name)
    return name


def _paper_dim(dim: Any) -> int:
    """The paper's d as a Python int >= 1."""
    try:
        return check_int(dim, "dim", minimum=1)
    except ValueError:
        raise fail("dim", "an integer >= 1 (the paper's d, the manifold dimension)", dim) from None


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


# --------------------------------------------------------------------------------------------
# The steps of one run
# --------------------------------------------------------------------------------------------


def stored_result(out_file: Path, directory: Path, prof: Any) -> dict[str, Any] | None:
    """The stored result when both it and the run's checkpoint exist, else None; the
    checkpoint is checked (its SHA-256), since the chapters rebuild the model from it.
    ``prof`` is the run's profile (anything with ``name`` and ``params()``: a Table 1
    :class:`Profile` or a Table 3 :class:`~hvae.experiments.semisupervised.SemiProfile`).

    Raises:
        ValueError: if the result is not valid JSON or was made with other parameters of the
            profile; :class:`hvae.train.CheckpointError` if the checkpoint is damaged.
    """
    if not (out_file.is_file() and (directory / CHECKPOINT).is_file()):
        return None
    try:
        stored = json.loads(out_file.read_text())
    except ValueError as err:  # also UnicodeDecodeError
        raise ValueError(f"{out_file}: not valid JSON ({err}); delete it to recompute") from None
    if not isinstance(stored, dict):
        raise ValueError(f"{out_file}: not a result (a JSON object); delete it to recompute")
    load_checkpoint(directory)
    if stored.get("provenance", {}).get("profile_params") != prof.params():
        raise ValueError(
            f"{out_file} was made with other parameters of profile {prof.name!r}; delete it "
            "(and its run directory) to recompute"
        )
    return stored


def _load_splits(prof: Profile) -> _Splits:
    """The train / validation / test splits of the profile's source (a warning when a profile
    whose source is ``"auto"``, e.g. ``full``, falls back to the 5k subset)."""
    splits = _Splits(*(load_mnist(split=s, source=prof.source)
                       for s in ("train", "validation", "test")))
    if prof.source == "auto" and splits.train.source != "mnist":
        warnings.warn(
            f"profile {prof.name!r}: full MNIST not found in data/mnist/, using the 5k subset "
            "(the results record data.source)",
            stacklevel=3,
        )
    return splits


def _fit(latent: str, dim: int, seed: int, prof: Profile, device: torch.device,
         splits: _Splits, directory: Path, resume: bool, progress: bool) -> TrainResult:
    """Train (or resume, or reload) the run's model into ``directory``."""
    seed_everything(seed)
    gradient = prof.kappa_gradient if latent == "vmf" else "implicit"
    model = VAE(latent, dim, hidden=prof.hidden, kappa_gradient=gradient)  # dim: manifold's
    info = {
        "data": {"dataset": "mnist", "source": splits.train.source, "limit": None},
        "profile": prof.params(),
    }
    return train(
        model,
        splits.train.images,
        splits.validation.images,
        prof.train_config(seed, str(device)),
        directory,
        resume=resume,
        progress=progress,
        run_info=info,
    )


def _evaluate_run(model: VAE, splits: _Splits, prof: Profile,
                  seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """(metrics, their standard errors): Table 1 on the test split and Table 2's k-NN
    accuracies (``knn_<n>``, no standard error)."""
    # the test digits binarised once (with the evaluation seed), for the metrics and the codes
    x_test = fixed_binarization(splits.test.images, prof.eval_seed)
    report = evaluate(model, x_test, iw_samples=prof.iw_samples, binarize=False,
                      seed=prof.eval_seed)
    metrics: dict[str, float] = {k: float(report[k]["mean"]) for k in METRICS}
    sem: dict[str, float] = {k: float(report[k]["sem"]) for k in METRICS}
    if prof.knn_labels:
        train_codes = latent_codes(model, splits.train.images, seed=prof.eval_seed)
        test_codes = latent_codes(model, x_test, binarize=False)
        for n in prof.knn_labels:
            metrics[f"knn_{n}"] = knn_accuracy(
                train_codes,
                splits.train.labels,
                test_codes,
                splits.test.labels,
                n,
                k=prof.knn_k,
                seed=seed,
            )
    return metrics, sem


def _provenance(environment: dict[str, Any], prof: Profile, splits: _Splits, directory: Path,
                tic: float) -> dict[str, Any]:
    """The result's ``provenance``: the environment when the run started (its commit, not the
    one checked out when it ends), the profile, the data and the wall time since ``tic`` (a
    :func:`time.perf_counter` reading)."""
    return {
        **environment,
        "profile": prof.name,
        "profile_params": prof.params(),
        "data": {
            "dataset": "mnist",
            "source": splits.train.source,
            "split_sizes": dict(splits.train.split_sizes),
            "n_train": splits.train.n,
            "n_validation": splits.validation.n,
            "n_test": splits.test.n,
            "evaluated_on": "test",
        },
        "wall_time_s": time.perf_counter() - tic,
        "run_dir": str(directory),
    }


def _result_record(latent: str, dim: int, seed: int, prof: Profile, fit: TrainResult,
                   resumed: bool, scores: tuple[dict[str, float], dict[str, float]],
                   provenance: dict[str, Any]) -> dict[str, Any]:
    """The stored result of a run (schema 1; the keys :func:`run_mnist` documents)."""
    metrics, sem = scores
    return {
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
        "provenance": provenance,
    }


# --------------------------------------------------------------------------------------------
# One run, and the stored runs
# --------------------------------------------------------------------------------------------


def run_mnist(
    latent: str,
    dim: int,
    seed: int,
    profile: str | Profile,
    out_root: str | os.PathLike = "runs",
    results_root: str | os.PathLike = "data/results",
    device: str | torch.device | None = None,
    resume: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Train, evaluate and store one MNIST run; return its result (the stored JSON as a dict).

    Args:
        latent: ``"normal"`` (N-VAE) or ``"vmf"`` (S-VAE).
        dim: the paper's d, the dimension of the latent manifold (the S-VAE lives on S^d in
            R^(d+1)), as in :class:`hvae.models.VAE`.
        seed: training seed (and seed of the k-NN's labelled subset).
        profile: a :class:`Profile` or the name of one of
            :data:`~hvae.experiments.profiles.PROFILES`.
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
            ``results_root``/``out_root``), a stored result that is not valid JSON.
        hvae.train.CheckpointError: if the run's checkpoint is damaged or does not fit.
        BlockingIOError: if another live process is running this run (the run
            directory's lock is held from training to the written result).
        hvae.train.TrainingDivergedError: if the training diverges.
        OSError: if a file cannot be read or written.
    """
    prof = get_profile(profile)
    check_choice(latent, "latent", PAPER_LATENTS)
    dim = _paper_dim(dim)
    out_file = result_path(latent, dim, seed, prof, results_root)
    directory = run_dir(latent, dim, seed, prof, out_root)
    dev = resolve_device(device)
    stored = stored_result(out_file, directory, prof) if resume else None
    if stored is not None:
        return stored

    tic = time.perf_counter()
    environment = environment_record(dev)
    splits = _load_splits(prof)
    with run_lock(directory, "choose another out_root"):  # training, evaluation and result
        stored = stored_result(out_file, directory, prof) if resume else None
        if stored is not None:  # another process finished this run meanwhile
            return stored
        resumed = resume and (directory / CHECKPOINT).is_file()
        fit = _fit(latent, dim, seed, prof, dev, splits, directory, resumed, progress)
        scores = _evaluate_run(fit.model, splits, prof, seed)
        provenance = _provenance(environment, prof, splits, directory, tic)
        result = _result_record(latent, dim, seed, prof, fit, resumed, scores, provenance)
        write_json(out_file, result)
    return result


def load_results(
    profile: str | Profile, results_root: str | os.PathLike = "data/results"
) -> list[dict[str, Any]]:
    """All stored MNIST runs of ``profile`` (result dicts as :func:`run_mnist` returns them),
    sorted by (latent, dim, seed); ``[]`` if there are none. For a known profile, only its
    ``dims``: the M1 runs Table 3 adds at other d (:mod:`hvae.experiments.semisupervised`)
    are not Table 1's."""
    directory = Path(results_root) / _profile_name(profile)
    if not directory.is_dir():
        return []
    known = isinstance(profile, Profile) or profile in PROFILES
    dims = get_profile(profile).dims if known else None
    results = [json.loads(p.read_text()) for p in directory.glob("mnist-*.json")]
    results = [r for r in results if dims is None or r["dim"] in dims]
    return sorted(results, key=lambda r: (r["latent"], r["dim"], r["seed"]))
