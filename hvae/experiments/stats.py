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

__all__ = ["model_gap", "summarize_runs"]


def _metric_order(name: str) -> tuple[int, int, str]:
    """Sort key of a metric: Table 1's columns in order, then ``knn_<n>`` by n, then others."""
    if name in METRICS:
        return (0, METRICS.index(name), name)
    if name.startswith("knn_") and name[4:].isdigit():
        return (1, int(name[4:]), name)
    return (2, 0, name)


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
            v = np.array([float(r["metrics"][m]) for r in runs if m in r["metrics"]])
            std = float(v.std(ddof=1)) if v.size > 1 else math.nan
            entry[m] = {"mean": float(v.mean()), "std": std}
        summary[key] = entry
    return summary


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
