r"""Statistics over the seeds of stored runs: per-(model, d) means and spreads, model gaps.

These summarise *runs* (one number per seed); the summary over the test *examples* of one
model is :func:`hvae.evaluate.summarize_examples`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from hvae.experiments.paper import METRICS, MODEL_NAMES

__all__ = ["gradient_gap", "mean_and_sd", "mean_difference", "model_gap", "summarize_runs"]


def _metric_order(name: str) -> tuple[int, int, str]:
    """Sort key of a metric: Table 1's columns in order, then ``knn_<n>`` by n, then others."""
    if name in METRICS:
        return (0, METRICS.index(name), name)
    if name.startswith("knn_") and name[4:].isdigit():
        return (1, int(name[4:]), name)
    return (2, 0, name)


def mean_and_sd(values: Iterable[float]) -> dict[str, float]:
    """``{"mean", "std"}`` of values over seeds: the sample standard deviation (``ddof=1``),
    ``nan`` for a single value (undefined, not 0)."""
    v = np.asarray([float(x) for x in values])
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else math.nan}


def summarize_runs(
    results: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, int], dict[str, Any]]:
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
            entry[m] = mean_and_sd(r["metrics"][m] for r in runs if m in r["metrics"])
        summary[key] = entry
    return summary


def mean_difference(a: Mapping[str, Any], b: Mapping[str, Any], metric: str, n_se: float
                ) -> tuple[float, float, int | None]:
    """(mean_a - mean_b, its standard error over independent seeds, call): the call is +1 or -1
    beyond ``n_se`` standard errors in that direction, 0 within, None when the standard error
    is not estimable (nan: fewer than two runs on a side)."""
    var = sum(s[metric]["std"] ** 2 / s["n_runs"] for s in (a, b))
    diff, se = a[metric]["mean"] - b[metric]["mean"], math.sqrt(var)
    if math.isnan(se):  # nan propagates from a single run's nan std
        return diff, se, None
    return diff, se, 1 if diff > n_se * se else -1 if diff < -n_se * se else 0


def _gaps(pairs: Mapping[int, tuple[Mapping[str, Any], Mapping[str, Any]]], metric: str,
          n_se: float, names: tuple[str, str], counts: tuple[str, str]) -> dict[int, dict]:
    """``{d: {"diff", "se", "ahead", counts[0], counts[1]}}`` of first minus second of each pair
    of summaries that both have ``metric``; ``ahead`` names[0], names[1], "level" or None."""
    calls = {1: names[0], -1: names[1], 0: "level", None: None}
    gaps: dict[int, dict[str, Any]] = {}
    for d, (a, b) in pairs.items():
        if metric in a and metric in b:
            diff, se, call = mean_difference(a, b, metric, n_se)
            gaps[d] = {"diff": diff, "se": se, "ahead": calls[call], counts[0]: a["n_runs"],
                       counts[1]: b["n_runs"]}
    return gaps


def model_gap(
    summary: Mapping[tuple[str, int], Mapping[str, Any]], metric: str = "LL", n_se: float = 2.0
) -> dict[int, dict[str, Any]]:
    r"""S-VAE minus N-VAE in ``metric``, per d, from the output of :func:`summarize_runs`.

    Returns ``{dim: {"diff": m_S - m_N, "se": se, "ahead": call, "n_vmf": n_S,
    "n_normal": n_N}}`` for every d that has runs of both models, sorted by d. ``se`` is the
    standard error of a difference of two means over independent seeds,
    :math:`\sqrt{s_S^2/n_S + s_N^2/n_N}`; it is ``nan`` (not estimable) unless both models have
    at least two runs with the metric. ``ahead`` is ``"S-VAE"`` or ``"N-VAE"`` when the
    difference exceeds ``n_se`` standard errors in that direction, ``"level"`` when it does
    not, and ``None`` when ``se`` is ``nan``.
    """
    dims = sorted({d for latent, d in summary if latent == "vmf"}
                  & {d for latent, d in summary if latent == "normal"})
    pairs = {d: (summary[("vmf", d)], summary[("normal", d)]) for d in dims}
    return _gaps(pairs, metric, n_se, ("S-VAE", "N-VAE"), ("n_vmf", "n_normal"))


def gradient_gap(
    implicit: Mapping[tuple[str, int], Mapping[str, Any]],
    proposal: Mapping[tuple[str, int], Mapping[str, Any]],
    metric: str = "LL",
    n_se: float = 2.0,
) -> dict[int, dict[str, Any]]:
    r"""The S-VAE trained with the unbiased gradient in kappa minus the S-VAE trained with the
    paper code's (through the accepted proposal only), per d, from two outputs of
    :func:`summarize_runs` (profiles ``full`` and ``full-proposal-gradient``).

    Returns ``{dim: {"diff": m_implicit - m_proposal, "se": se, "ahead": call, "n_implicit":
    n_i, "n_proposal": n_p}}`` for every d with S-VAE runs in both, sorted by d; ``se`` as in
    :func:`model_gap`, ``ahead`` ``"implicit"``, ``"proposal"``, ``"level"`` or ``None``.
    """
    dims = sorted({d for lat, d in implicit if lat == "vmf"}
                  & {d for lat, d in proposal if lat == "vmf"})
    pairs = {d: (implicit[("vmf", d)], proposal[("vmf", d)]) for d in dims}
    return _gaps(pairs, metric, n_se, ("implicit", "proposal"), ("n_implicit", "n_proposal"))
