r"""Table 3 of the paper: M1 + M2 on MNIST with 100 labels, and M2 without labels (clustering).

**One run** (:func:`run_m2`) takes a trained M1 (the Table 1 :class:`hvae.models.VAE` of the
same profile, dimension and seed: :func:`hvae.experiments.runs.run_mnist` reuses a stored run
and trains a missing one, e.g. d = 50), draws a class-balanced, seeded set of ``n_labels``
labelled training digits (:func:`hvae.evaluate.balanced_subset`), trains M2
(:func:`hvae.semisupervised.fit_m2`) on fresh draws z1 ~ q(z1 | x) each epoch (selected on
the bound of one fixed draw for the validation digits), and reports the test accuracy of
the classifier q(y | z1) at M1's posterior mean direction of the test digits.
It checkpoints into ``out_root/<profile>/m2-<m1>-<m2>-z1_<d1>-z2_<d2>-s<seed>/`` and stores
``results_root/<profile>/m2-<m1>-<m2>-z1_<d1>-z2_<d2>-s<seed>.json`` atomically, with its
provenance and M1's.

**The grid** (:data:`SEMI_PROFILES`): ``full`` is the paper's, (z1, z2) in {5, 10, 50}^2 x
{N+N, S+S, S+N} (M1 type + M2 type) x 3 seeds; ``quick`` (the chapter's default) is one cell
per pair type, z1 = z2 = 5, 1 seed, 15 epochs, on M1 runs of 15 epochs (:data:`QUICK_M1`).

**Dimensions**: z1 and z2 are the paper's d (R^d, or S^d in R^(d+1)), as in Table 1.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hvae._io import run_lock, write_json
from hvae._validation import check_choice, check_int, fail, resolve_device
from hvae.data import fixed_binarization, load_mnist
from hvae.evaluate import balanced_subset, latent_codes
from hvae.experiments.profiles import QUICK, Profile, get_profile
from hvae.experiments.provenance import environment_record
from hvae.experiments.runs import DIM_CONVENTION, run_dir, run_mnist, stored_result
from hvae.experiments.stats import mean_and_sd, mean_difference
from hvae.semisupervised import (
    M2,
    UNLABELLED,
    M2Config,
    code_sampler,
    fit_m2,
    m2_accuracy,
)
from hvae.train import CHECKPOINT, load_model

__all__ = ["PAIRS", "QUICK_M1", "SEMI_FULL", "SEMI_PROFILES", "SEMI_QUICK", "SemiProfile",
           "load_m2_results", "m2_result_path", "m2_run_dir", "pair_gap", "pair_name",
           "run_m2", "summarize_m2_runs", "table3_verdict"]

#: The (M1 latent, M2 latent) pairs of Table 3.
PAIRS: tuple[tuple[str, str], ...] = (("normal", "normal"), ("vmf", "vmf"), ("vmf", "normal"))
_LETTER = {"normal": "N", "vmf": "S"}
_SCHEMA = 1


def pair_name(pair: tuple[str, str]) -> str:
    """``"S+N"`` for (``"vmf"``, ``"normal"``): M1's type + M2's, as in the paper."""
    return "+".join(_LETTER[p] for p in pair)


@dataclass(frozen=True)
class SemiProfile:
    """Every parameter of a Table 3 set-up.

    Attributes:
        name: results go to ``<results_root>/<name>/``.
        m1_profile: the M1 runs' profile (a :class:`hvae.experiments.profiles.Profile` or the
            name of one of :data:`~hvae.experiments.profiles.PROFILES`).
        z1_dims, z2_dims: the paper's d of z1 (M1's latent) and z2 (M2's).
        pairs: (M1 latent, M2 latent) pairs.
        seeds: seeds (M1's run, the labelled subset, M2's training).
        n_labels: labelled training digits (class-balanced).
        epochs, warmup_epochs, patience, batch_size, labelled_batch_size, lr, select_on:
            M2's training (:class:`hvae.semisupervised.M2Config`).
        hidden: hidden sizes of M2's three networks.
        alpha: weight of the classification term; None: Kingma et al.'s 0.1 x n_train.
    """

    name: str
    m1_profile: str | Profile
    z1_dims: tuple[int, ...]
    z2_dims: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    warmup_epochs: float
    patience: int | None
    pairs: tuple[tuple[str, str], ...] = PAIRS
    n_labels: int = 100
    batch_size: int = 100
    labelled_batch_size: int = 100
    lr: float = 3e-4
    select_on: str = "bound"
    hidden: tuple[int, ...] = (500,)
    alpha: float | None = None

    def __post_init__(self) -> None:
        get_profile(self.m1_profile)
        for name in ("z1_dims", "z2_dims", "seeds", "hidden"):
            values = tuple(getattr(self, name))
            if not values:
                raise fail(name, "a non-empty sequence", values)
            object.__setattr__(self, name, tuple(check_int(v, name, minimum=0 if name == "seeds"
                                                           else 1) for v in values))
        pairs = tuple(tuple(p) for p in self.pairs)
        for p in pairs:
            if p not in PAIRS:
                raise fail("pairs", f"pairs among {PAIRS}", p)
        object.__setattr__(self, "pairs", pairs)
        check_int(self.n_labels, "n_labels", minimum=10)
        self.m2_config(self.seeds[0], "cpu")  # validates the training settings

    def m2_config(self, seed: int, device: str) -> M2Config:
        """The :class:`hvae.semisupervised.M2Config` of one run."""
        return M2Config(epochs=self.epochs, batch_size=self.batch_size,
                        labelled_batch_size=self.labelled_batch_size, lr=self.lr,
                        alpha=self.alpha, warmup_epochs=self.warmup_epochs,
                        patience=self.patience, select_on=self.select_on, seed=seed,
                        device=device)

    def params(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))


#: The M1 runs of :data:`SEMI_QUICK`: :data:`hvae.experiments.profiles.QUICK` trained for 15
#: epochs instead of 3 (3 epochs leave codes too poor for M2 to show anything), d in {2, 5}.
QUICK_M1 = replace(QUICK, name="quick-m1", dims=(2, 5), epochs=15, warmup_epochs=3.0,
                   knn_labels=(100,))
#: The chapter's default: one cell per pair type, z1 = z2 = 5, 1 seed, 15 epochs.
SEMI_QUICK = SemiProfile(name="quick", m1_profile=QUICK_M1, z1_dims=(5,), z2_dims=(5,),
                         seeds=(0,), epochs=15, warmup_epochs=2.0, patience=None)
#: The paper's grid (Table 3): 27 cells x 3 seeds.
SEMI_FULL = SemiProfile(name="full", m1_profile="full", z1_dims=(5, 10, 50),
                        z2_dims=(5, 10, 50), seeds=(0, 1, 2), epochs=300, warmup_epochs=20.0,
                        patience=50)
#: The Table 3 profiles by name (``python -m hvae.experiments --experiment semisupervised``).
SEMI_PROFILES: dict[str, SemiProfile] = {p.name: p for p in (SEMI_QUICK, SEMI_FULL)}


def _semi_profile(profile: str | SemiProfile) -> SemiProfile:
    if isinstance(profile, SemiProfile):
        return profile
    return SEMI_PROFILES[check_choice(profile, "profile", tuple(SEMI_PROFILES))]


def _stem(pair: tuple[str, str], z1: int, z2: int, seed: int) -> str:
    return f"m2-{pair[0]}-{pair[1]}-z1_{z1}-z2_{z2}-s{seed}"


def m2_run_dir(pair, z1: int, z2: int, seed: int, profile: str | SemiProfile,
               out_root: str | os.PathLike = "runs") -> Path:
    """Training directory of one M2 run."""
    return Path(out_root) / _semi_profile(profile).name / _stem(tuple(pair), z1, z2, seed)


def m2_result_path(pair, z1: int, z2: int, seed: int, profile: str | SemiProfile,
                   results_root: str | os.PathLike = "data/results") -> Path:
    """Result file of one M2 run."""
    name = _semi_profile(profile).name
    return Path(results_root) / name / f"{_stem(tuple(pair), z1, z2, seed)}.json"


def _m1(latent: str, d: int, seed: int, prof: SemiProfile, out_root, results_root,
        device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained M1 and a summary of its stored result (trained now if missing)."""
    result = run_mnist(latent, d, seed, prof.m1_profile, out_root=out_root,
                       results_root=results_root, device=device)
    m1 = load_model(run_dir(latent, d, seed, prof.m1_profile, out_root)).to(device).eval()
    summary = {k: result[k] for k in ("latent", "model", "dim", "code_dim", "seed", "profile")}
    summary.update(metrics=result["metrics"], git_commit=result["provenance"]["git_commit"],
                   git_dirty=result["provenance"]["git_dirty"],
                   run_dir=result["provenance"]["run_dir"])
    return m1, summary


def run_m2(pair, z1: int, z2: int, seed: int, profile: str | SemiProfile,
           out_root: str | os.PathLike = "runs", results_root: str | os.PathLike = "data/results",
           device: str | torch.device | None = None, resume: bool = True,
           progress: bool = False) -> dict[str, Any]:
    """Train (or resume, or reload) and store one Table 3 run; return its result.

    Args:
        pair: (M1 latent, M2 latent), one of :data:`PAIRS`.
        z1, z2: the paper's d of M1's and M2's latent spaces.
        seed: M1's run, the labelled subset and M2's training.
        profile: a :class:`SemiProfile` or a name of :data:`SEMI_PROFILES`.
        out_root, results_root, device, resume, progress: as in
            :func:`hvae.experiments.runs.run_mnist`.

    Returns:
        A dict with ``pair`` ("S+N"), ``m1_latent``, ``m2_latent``, ``z1_dim``, ``z2_dim``,
        ``dim_convention``, ``seed``, ``n_labels``, ``metrics`` (``accuracy``: test accuracy
        in [0, 1]; ``val_accuracy``), ``training``, ``m1`` (M1's run: metrics, commit, run
        directory) and ``provenance``.

    Raises:
        ValueError: naming the argument, for a bad pair or dimension; a stored result of other
            profile parameters.
    """
    prof = _semi_profile(profile)
    pair = tuple(pair)
    if pair not in PAIRS:
        raise fail("pair", f"one of {PAIRS}", pair)
    z1, z2 = check_int(z1, "z1", minimum=1), check_int(z2, "z2", minimum=1)
    dev = resolve_device(device)
    out_file = m2_result_path(pair, z1, z2, seed, prof, results_root)
    directory = m2_run_dir(pair, z1, z2, seed, prof, out_root)
    stored = stored_result(out_file, directory, prof) if resume else None
    if stored is not None:
        return stored
    tic = time.perf_counter()
    environment = environment_record(dev)
    m1, m1_summary = _m1(pair[0], z1, seed, prof, out_root, results_root, dev)
    m1_prof = get_profile(prof.m1_profile)
    splits = {s: load_mnist(split=s, source=m1_prof.source)
              for s in ("train", "validation", "test")}
    with run_lock(directory, "choose another out_root"):
        fit, test_acc = _fit_m2(pair, z2, seed, prof, m1, splits, m1_prof.eval_seed, dev,
                                directory, resume, progress)
        result = {
            "schema": _SCHEMA, "experiment": "semisupervised", "pair": pair_name(pair),
            "m1_latent": pair[0], "m2_latent": pair[1], "z1_dim": z1, "z2_dim": z2,
            "dim_convention": DIM_CONVENTION, "seed": seed, "profile": prof.name,
            "n_labels": prof.n_labels,
            "metrics": {"accuracy": test_acc,
                        "val_accuracy": fit.history[fit.best_epoch - 1]["val_accuracy"]},
            "training": {"epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch,
                         "best_score": fit.best_score, "select_on": prof.select_on,
                         "stopped_early": fit.stopped_early,
                         "train_time_s": float(sum(h["time_s"] for h in fit.history))},
            "m1": m1_summary,
            "provenance": {**environment, "profile": prof.name, "profile_params": prof.params(),
                           "data": {"dataset": "mnist", "source": splits["train"].source,
                                    **{f"n_{s}": m.n for s, m in splits.items()},
                                    "evaluated_on": "test"},
                           "wall_time_s": time.perf_counter() - tic, "run_dir": str(directory)},
        }
        write_json(out_file, result)
    return result


def _fit_m2(pair, z2: int, seed: int, prof: SemiProfile, m1, splits, eval_seed: int, device,
            directory: Path, resume: bool, progress: bool):
    """Train M2 on M1's codes; (fit result, test accuracy)."""
    train = splits["train"]
    labels = np.full(train.n, UNLABELLED)
    picked = balanced_subset(train.labels, prof.n_labels, seed)
    labels[picked] = train.labels[picked]
    val_codes = code_sampler(m1, splits["validation"].images, eval_seed)(0)  # as M2 trains
    x_test = fixed_binarization(splits["test"].images, eval_seed)
    test_codes = torch.from_numpy(latent_codes(m1, x_test, binarize=False))
    torch.manual_seed(seed)
    model = M2(10, m1.code_dim, "vmf" if pair[0] == "vmf" else "gaussian", pair[1], z2,
               hidden=prof.hidden)
    info = {"data": {"dataset": "mnist", "source": train.source, "n_labels": prof.n_labels,
                     "m1_run": str(run_dir(pair[0], m1.manifold_dim, seed, prof.m1_profile))}}
    fit = fit_m2(model, code_sampler(m1, train.images, seed), labels, val_codes,
                 splits["validation"].labels, prof.m2_config(seed, str(device)), directory,
                 resume=resume and (directory / CHECKPOINT).is_file(), progress=progress,
                 run_info=info)
    return fit, m2_accuracy(fit.model.cpu(), test_codes, splits["test"].labels)


def load_m2_results(profile: str | SemiProfile,
                    results_root: str | os.PathLike = "data/results") -> list[dict[str, Any]]:
    """Every stored Table 3 run of ``profile``, sorted by (pair, z1, z2, seed)."""
    directory = Path(results_root) / _semi_profile(profile).name
    results = [json.loads(p.read_text()) for p in sorted(directory.glob("m2-*.json"))]
    return sorted(results, key=lambda r: (r["pair"], r["z1_dim"], r["z2_dim"], r["seed"]))


def summarize_m2_runs(results) -> dict[tuple[int, int, str], dict[str, Any]]:
    """Mean and sample standard deviation (``ddof=1``; nan for one run) of the test accuracy
    over seeds, per (z1, z2, pair): ``{"n_runs", "seeds", "accuracy": {"mean", "std"}}``."""
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["z1_dim"], r["z2_dim"], r["pair"]), []).append(r)
    out = {}
    for key in sorted(groups):
        out[key] = {"n_runs": len(groups[key]), "seeds": sorted(r["seed"] for r in groups[key]),
                    "accuracy": mean_and_sd(r["metrics"]["accuracy"] for r in groups[key])}
    return out


def pair_gap(summary, a: str = "S+N", b: str = "N+N", n_se: float = 2.0
             ) -> dict[tuple[int, int], dict[str, Any]]:
    """Accuracy of pair ``a`` minus pair ``b`` per (z1, z2) cell holding both, with its
    standard error over independent seeds (Welch) and the call at ``n_se`` standard errors:
    ``{"diff", "se", "ahead"}``, ``ahead`` being ``a``, ``b``, ``"level"`` or None (fewer than
    two runs on a side)."""
    out = {}
    for z1, z2 in sorted({(k[0], k[1]) for k in summary}):
        if (z1, z2, a) in summary and (z1, z2, b) in summary:
            diff, se, call = mean_difference(summary[(z1, z2, a)], summary[(z1, z2, b)],
                                             "accuracy", n_se)
            ahead = None if call is None else {1: a, -1: b, 0: "level"}[call]
            out[(z1, z2)] = {"diff": diff, "se": se, "ahead": ahead}
    return out


def table3_verdict(summary, n_se: float = 2.0) -> str:
    """Whether the paper's headline, S+N the best pair, holds on ``summary``: S+N against
    each other pair in every cell at ``n_se`` standard errors. "holds" when S+N is ahead of
    both everywhere, "is contradicted" when another pair is ahead of it somewhere, else "is
    not borne out" (some comparison level or not estimable); the counts follow."""
    calls = [g["ahead"] for other in ("N+N", "S+S")
             for g in pair_gap(summary, "S+N", other, n_se).values()]
    if not calls:
        return "cannot be checked: no cell holds S+N and another pair"
    ahead, behind = calls.count("S+N"), sum(c not in ("S+N", "level", None) for c in calls)
    counts = (f"S+N ahead in {ahead}, behind in {behind}, level or not estimable in "
              f"{len(calls) - ahead - behind} of {len(calls)} comparisons")
    if behind:
        return f"is contradicted on these runs ({counts})"
    if ahead < len(calls):
        return f"is not borne out on these runs ({counts})"
    return f"holds on these runs ({counts})"
