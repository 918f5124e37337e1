r"""Figure 1 of the paper over seeds: the circle runs, their metrics, stored with provenance.

The data (:func:`hvae.data.make_circle_data`) are angles on the circle S^1 pushed into R^100;
five models with a code of length 2 learn to undo the map (:data:`CIRCLE_MODELS`): the plain
auto-encoder, the N-VAE (codes in R^2, prior N(0, I)), the N-VAE with its KL weighted by
beta = 0.1, and the S-VAE on S^1 trained with the unbiased gradient in kappa and with the paper
code's gradient (through Wood's accepted proposal only, :func:`hvae.sampling.proposal_slope`).

**One run** (:func:`run_circle`) trains one model with one seed (the data are the same for
every seed: only the initialisation and the batch order change), measures on the test split
how well its deterministic codes keep the circle (:func:`circle_metrics`) and writes
``results_root/<profile>/circle-<key>-s<seed>.json`` atomically, with the test codes (so that a
figure can be drawn from stored runs) and the provenance of :mod:`hvae.experiments.runs`.

**Keeping the circle.** With :math:`\phi_c` the angle of a code about the mean of the codes and
:math:`\theta` the true angle, a run keeps the circle when the winding number of
:math:`\phi_c` around :math:`\theta` is :math:`\pm 1` and Fisher and Lee's
:math:`|\hat\rho_T(\theta, \phi_c)| \ge` :data:`KEEPS_RHO` (:mod:`hvae.circular`).
:func:`circle_stability` counts, per model, the seeds that keep it.

**Dimension convention.** The AE and the N-VAEs have the paper's d = 2 (codes in R^2), the
S-VAEs d = 1 (codes on S^1 in R^2): :class:`hvae.models.VAE` takes the manifold's dimension.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from hvae._io import run_lock, write_json
from hvae._validation import check_choice, resolve_device
from hvae.circular import circular_correlation, winding
from hvae.data import CIRCLE_SPLITS, make_circle_data
from hvae.evaluate import evaluate
from hvae.experiments.provenance import environment_record
from hvae.models import VAE
from hvae.train import CHECKPOINT, TrainConfig, seed_everything, train

__all__ = ["CIRCLE_MODELS", "CIRCLE_PROFILES", "KEEPS_RHO", "CircleModel", "CircleProfile",
           "circle_metrics", "circle_result_path", "circle_stability", "instability_verdict",
           "load_circle_results", "run_circle"]

#: The :math:`|\hat\rho_T|` (about the codes' mean) from which a run with winding number
#: :math:`\pm 1` keeps the circle.
KEEPS_RHO = 0.8
#: Radius, in the prior's units, beyond which a prior draw counts as far from every code.
_EMPTY_RADIUS = 0.25
_PRIOR_DRAWS = 4000


class CircleModel(NamedTuple):
    """One model of Figure 1: ``VAE(latent, dim, beta=beta, kappa_gradient=kappa_gradient)``."""

    key: str  #: file-name key of its results
    latent: str
    dim: int  #: the paper's d (manifold dimension)
    beta: float
    kappa_gradient: str


#: The models, by display name, in the order of the figure.
CIRCLE_MODELS: dict[str, CircleModel] = {
    "AE": CircleModel("ae", "ae", 2, 1.0, "implicit"),
    "N-VAE": CircleModel("normal", "normal", 2, 1.0, "implicit"),
    "N-VAE, beta=0.1": CircleModel("normal-beta0.1", "normal", 2, 0.1, "implicit"),
    "S-VAE": CircleModel("vmf", "vmf", 1, 1.0, "implicit"),
    "S-VAE, proposal gradient": CircleModel("vmf-proposal", "vmf", 1, 1.0, "proposal"),
}


@dataclass(frozen=True)
class CircleProfile:
    """Every parameter of a set-up of the circle runs (Adam at ``lr``, batches of 64)."""

    name: str
    n_train: int
    epochs: int
    warmup_epochs: int
    patience: int | None
    seeds: tuple[int, ...]
    lr: float = 1e-3


#: ``quick``: the chapter's live run (25 epochs, no warm-up, one seed); ``full``: 60 epochs
#: at most, a 10-epoch KL warm-up, early stopping after 20 epochs without progress, 5 seeds.
CIRCLE_PROFILES: dict[str, CircleProfile] = {
    "quick": CircleProfile("quick", CIRCLE_SPLITS["train"][0], 25, 0, None, (0,)),
    "full": CircleProfile("full", CIRCLE_SPLITS["train"][0], 60, 10, 20, (0, 1, 2, 3, 4)),
}


def _profile(profile: str | CircleProfile) -> CircleProfile:
    if isinstance(profile, CircleProfile):
        return profile
    return CIRCLE_PROFILES[check_choice(profile, "profile", tuple(CIRCLE_PROFILES))]


def _params(prof: CircleProfile) -> dict[str, Any]:
    """The profile's parameters as they read back from JSON (tuples become lists)."""
    return json.loads(json.dumps(asdict(prof)))


def _splits(prof: CircleProfile):
    """(train, validation, test) circle data: the sizes and sampling seeds of CIRCLE_SPLITS."""
    sizes = {**CIRCLE_SPLITS, "train": (prof.n_train, CIRCLE_SPLITS["train"][1])}
    return tuple(make_circle_data(n=n, seed=s) for n, s in
                 (sizes["train"], sizes["validation"], sizes["test"]))


def _empty_fraction(model: VAE, codes: np.ndarray) -> float | None:
    """Share of the prior's draws farther than _EMPTY_RADIUS from every test code: the part of
    the latent space the prior fills but the data never reach (None for the AE: no prior)."""
    if model.latent == "ae":
        return None
    gen = torch.Generator().manual_seed(0)
    if model.spherical:
        angle = torch.rand(_PRIOR_DRAWS, generator=gen, dtype=torch.float64) * 2 * np.pi
        draws = torch.stack([angle.cos(), angle.sin()], dim=1).numpy()
    else:
        draws = torch.randn(_PRIOR_DRAWS, 2, generator=gen, dtype=torch.float64).numpy()
    nearest = np.full(_PRIOR_DRAWS, np.inf)
    for start in range(0, len(codes), 250):  # (draws x 250) distances at a time
        block = codes[start:start + 250]
        dist = np.linalg.norm(draws[:, None, :] - block[None, :, :], axis=2).min(axis=1)
        nearest = np.minimum(nearest, dist)
    return float(np.mean(nearest > _EMPTY_RADIUS))


@torch.no_grad()
def circle_metrics(model: VAE, test) -> tuple[dict[str, Any], np.ndarray]:
    """(metrics, codes) of a trained model on the circle test data ``test``.

    The codes are ``model.embed(test.x)`` (float64, shape (n, 2)). The metrics: ``rho`` and
    ``rho_centred`` (:math:`\\hat\\rho_T` of the true angle with the code's angle about the
    origin and about the codes' mean), ``winding`` and ``monotone`` (of the centred angle),
    ``keeps_circle``, ``radius_mean``/``radius_sd`` (of :math:`\\lVert z \\rVert`),
    ``empty_fraction`` (the share of 4,000 prior draws farther than 0.25 from every code; None
    for the AE, which has no prior), and on the test points, in nats per point,
    ``RE`` (the reconstruction log-likelihood; the AE's only score), and for the VAEs ``KL`` and
    ``ELBO`` (None for the AE, which has no ELBO).
    """
    model.eval()
    codes = model.embed(torch.from_numpy(test.x)).double().numpy()
    centred = codes - codes.mean(axis=0)
    phi, phi_c = (np.arctan2(z[:, 1], z[:, 0]) for z in (codes, centred))
    wind = winding(test.angles, phi_c)
    rho_c = circular_correlation(test.angles, phi_c)
    report = evaluate(model, test.x, iw_samples=0, binarize=False, seed=0)
    radius = np.linalg.norm(codes, axis=1)
    vae = model.latent != "ae"
    metrics = {
        "rho": circular_correlation(test.angles, phi), "rho_centred": rho_c,
        "winding": wind.number, "monotone": wind.monotone_fraction,
        "keeps_circle": bool(abs(wind.number) == 1 and abs(rho_c) >= KEEPS_RHO),
        "radius_mean": float(radius.mean()), "radius_sd": float(radius.std()),
        "empty_fraction": _empty_fraction(model, codes),
        "RE": report["RE"]["mean"],
        "KL": report["KL"]["mean"] if vae else None,
        "ELBO": report["ELBO"]["mean"] if vae else None,
    }
    return metrics, codes


def circle_result_path(name: str, seed: int, profile: str | CircleProfile,
                       results_root: str | os.PathLike = "data/results") -> Path:
    """Result file of one circle run: ``results_root/<profile>/circle-<key>-s<seed>.json``."""
    key = CIRCLE_MODELS[check_choice(name, "name", tuple(CIRCLE_MODELS))].key
    return Path(results_root) / _profile(profile).name / f"circle-{key}-s{seed}.json"


def run_circle(
    name: str,
    seed: int,
    profile: str | CircleProfile = "quick",
    results_root: str | os.PathLike = "data/results",
    out_root: str | os.PathLike | None = None,
    device: str | torch.device | None = "cpu",
    resume: bool = True,
) -> dict[str, Any]:
    """Train, measure and store one circle run; return its result (the stored JSON as a dict).

    Args:
        name: a key of :data:`CIRCLE_MODELS` (``"AE"``, ``"N-VAE"``, ...).
        seed: training seed (initialisation and batch order; the data do not change).
        profile: ``"quick"``, ``"full"`` or a :class:`CircleProfile`.
        results_root: the result goes to ``results_root/<profile>/circle-<key>-s<seed>.json``.
        out_root: checkpoints go to ``out_root/<profile>/circle-<key>-s<seed>/`` (an
            interrupted run resumes there); None: no checkpoints.
        device: where to train (None or ``"auto"``: CUDA when available).
        resume: return the stored result, when there is one made with this profile, without
            training.

    Returns:
        A dict with ``experiment`` (``"circle"``), ``model``, ``key``, ``latent``, ``dim``,
        ``beta``, ``kappa_gradient``, ``seed``, ``profile``, ``metrics``
        (:func:`circle_metrics`), ``training`` (epochs run, best epoch and validation score),
        ``codes`` (the test codes, rounded to 1e-4) and ``provenance`` (commit, dirty flag,
        date, device with threads, versions, profile, data and split sizes, wall time).

    Raises:
        ValueError: for an unknown model or profile, or a stored result of other parameters.
        BlockingIOError: if another live process trains this run.
    """
    spec = CIRCLE_MODELS[check_choice(name, "name", tuple(CIRCLE_MODELS))]
    prof = _profile(profile)
    out_file = circle_result_path(name, seed, prof, results_root)
    if resume and out_file.is_file():
        stored = json.loads(out_file.read_text())
        if stored["provenance"]["profile_params"] != _params(prof):
            raise ValueError(f"{out_file} was made with other parameters of profile "
                             f"{prof.name!r}; delete it to recompute")
        return stored
    dev = resolve_device(device)
    tic, environment = time.perf_counter(), environment_record(dev)
    train_set, validation, test = _splits(prof)
    directory = None if out_root is None else Path(out_root) / prof.name / out_file.stem
    seed_everything(seed)
    model = VAE(spec.latent, spec.dim, input_dim=train_set.x.shape[1], likelihood="gaussian",
                beta=spec.beta, kappa_gradient=spec.kappa_gradient)
    config = TrainConfig(epochs=prof.epochs, warmup_epochs=prof.warmup_epochs, lr=prof.lr,
                         patience=prof.patience, seed=seed, binarize=False, device=str(dev))
    # the lock guards the checkpoints; without them two processes can only waste time
    lock = nullcontext() if directory is None else run_lock(directory, "choose another out_root")
    with lock:
        fit = train(model, train_set.x, validation.x, config, directory,
                    resume=resume and directory is not None
                    and (directory / CHECKPOINT).is_file(), progress=False)
        metrics, codes = circle_metrics(fit.model.cpu(), test)
        result = {
            "experiment": "circle", "model": name, "key": spec.key, "latent": spec.latent,
            "dim": spec.dim, "beta": spec.beta, "kappa_gradient": spec.kappa_gradient,
            "seed": seed, "profile": prof.name, "metrics": metrics,
            "training": {"epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch,
                         "best_val_score": fit.best_val_elbo, "stopped_early": fit.stopped_early},
            "codes": np.round(codes, 4).tolist(),
            "provenance": {**environment, "profile": prof.name, "profile_params": _params(prof),
                           "data": {"dataset": "circle", "source": "hvae.data.make_circle_data",
                                    "n_train": len(train_set.x),
                                    "n_validation": len(validation.x), "n_test": len(test.x)},
                           "wall_time_s": time.perf_counter() - tic},
        }
        write_json(out_file, result)
    return result


def load_circle_results(profile: str | CircleProfile,
                        results_root: str | os.PathLike = "data/results") -> list[dict[str, Any]]:
    """The stored circle runs of ``profile``, in the order of :data:`CIRCLE_MODELS` and seed."""
    directory = Path(results_root) / _profile(profile).name
    order = {spec.key: i for i, spec in enumerate(CIRCLE_MODELS.values())}
    results = [json.loads(p.read_text()) for p in sorted(directory.glob("circle-*.json"))]
    return sorted(results, key=lambda r: (order.get(r["key"], len(order)), r["seed"]))


def circle_stability(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model (display name, in the order of :data:`CIRCLE_MODELS`): ``seeds``, ``kept``
    (seeds that keep the circle), ``rho_mean``/``rho_sd``/``rho_min`` of
    :math:`|\\hat\\rho_T|` about the codes' mean over the seeds (sample SD, ddof = 1), and the
    mean ``RE`` and ``empty_fraction`` (None where undefined)."""
    summary = {}
    for name in CIRCLE_MODELS:
        runs = [r["metrics"] for r in results if r["model"] == name]
        if not runs:
            continue
        rho = np.abs([m["rho_centred"] for m in runs])
        empty = [m["empty_fraction"] for m in runs if m["empty_fraction"] is not None]
        summary[name] = {
            "seeds": len(runs), "kept": sum(m["keeps_circle"] for m in runs),
            "rho_mean": float(rho.mean()),
            "rho_sd": float(rho.std(ddof=1)) if len(rho) > 1 else None,
            "rho_min": float(rho.min()), "RE": float(np.mean([m["RE"] for m in runs])),
            "empty_fraction": float(np.mean(empty)) if empty else None,
        }
    return summary


def instability_verdict(summary: dict[str, dict[str, Any]], min_seeds: int = 5) -> str:
    """The verdict on the paper's claim that "a normal VAE becomes highly unstable" while the
    AE and the S-VAE keep the circle, from :func:`circle_stability`: borne out when the N-VAE
    loses the circle in some seeds and the AE and the S-VAE in none; not borne out when the
    N-VAE keeps it in every seed; not specific to the N-VAE otherwise; cannot be checked with
    fewer than ``min_seeds`` seeds of any of the three."""
    names = ("N-VAE", "AE", "S-VAE")
    if any(summary.get(n, {}).get("seeds", 0) < min_seeds for n in names):
        return f"cannot be checked: fewer than {min_seeds} stored seeds of the AE, N-VAE or S-VAE"
    lost = {n: summary[n]["seeds"] - summary[n]["kept"] for n in names}
    counts = ", ".join(f"{n} {lost[n]} of {summary[n]['seeds']}" for n in names)
    if lost["N-VAE"] and not lost["AE"] and not lost["S-VAE"]:
        return f"borne out: seeds that lose the circle: {counts}"
    if not lost["N-VAE"]:
        return f"not borne out: the N-VAE keeps the circle in every seed ({counts} lost)"
    return f"not specific to the N-VAE: seeds that lose the circle: {counts}"
