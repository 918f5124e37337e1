"""Sentences and text blocks that the experiment chapters print about stored runs.

:func:`headline_verdict` says in words whether the runs bear out the paper's headline;
:func:`describe_stored` says where stored runs come from (commits, dates, devices, data), so
that the chapters comparing them with the paper (Tables 1 and 2) print the same account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hvae.experiments.paper import PAPER_HEADLINE
from hvae.experiments.profiles import Profile
from hvae.experiments.provenance import code_changed_since

__all__ = ["describe_stored", "headline_verdict"]


#: How :func:`headline_verdict` names a call of :func:`hvae.experiments.model_gap`.
_CALLS = {"S-VAE": "S ahead", "N-VAE": "N ahead", "level": "inconclusive", None: "inconclusive"}


def headline_verdict(gaps: Mapping[int, Mapping[str, Any]]) -> str:
    """Whether the LL gaps of :func:`hvae.experiments.model_gap` bear out the paper's headline
    (the S-VAE ahead for d <= 10, the N-VAE at d = 40: :data:`PAPER_HEADLINE`), built from the
    per-d calls at two standard errors (S ahead, N ahead, inconclusive), never from signs alone:

    - "holds": every d the headline names is called the way it says;
    - "is contradicted": at some d the other model is ahead beyond two standard errors;
    - "is not borne out": no contradiction, but some d is inconclusive;
    - "cannot be checked": a d it names lacks runs of both models.

    The phrase ends with the calls, e.g. ``"(d = 2: S ahead; d = 5: inconclusive; ...)"``.
    """
    if not set(PAPER_HEADLINE) <= set(gaps):
        names = ", ".join(str(d) for d in PAPER_HEADLINE)
        return f"cannot be checked: not every d it names ({names}) has runs of both models"
    expected = {1: "S ahead", -1: "N ahead"}
    calls = {d: _CALLS[gaps[d]["ahead"]] for d in PAPER_HEADLINE}
    listed = "; ".join(f"d = {d}: {call}" for d, call in calls.items())
    wrong = [d for d, call in calls.items()
             if call != "inconclusive" and call != expected[PAPER_HEADLINE[d]]]
    open_ = [d for d, call in calls.items() if call == "inconclusive"]
    if wrong:
        return (f"is contradicted on these runs at d = {', '.join(map(str, wrong))} "
                f"({listed})")
    if open_:
        return (f"is not borne out on these runs: inconclusive at two standard errors at "
                f"d = {', '.join(map(str, open_))} ({listed})")
    return f"holds on these runs, every difference beyond two standard errors ({listed})"


def _code_change(commit: str) -> str:
    """Whether hvae/ changed between ``commit`` and this build, as a remark for the list."""
    changed = code_changed_since(commit)
    if changed is None:
        return " (whether hvae/ changed since: unknown to git here)"
    return " (hvae/ changed since)" if changed else " (hvae/ unchanged since)"


def _data_line(data: Mapping[str, Any]) -> str:
    """The line of :func:`describe_stored` for one data set of the stored runs."""
    if "n_nodes" in data:  # a graph of Table 4
        split = data["split_sizes"]
        return (f"  data:          {data['dataset']}, {data['n_nodes']} nodes, {data['n_edges']} "
                f"edges ({split['train']} train / {split['val']} validation / {split['test']} "
                "test)")
    sizes = f"{data['n_train']} train / {data['n_validation']} validation / {data['n_test']} test"
    if data.get("dataset", "mnist") != "mnist":
        source = f" ({data['source']})" if "source" in data else ""
        return f"  data:          {data['dataset']}{source}, {sizes} points"
    loud = "" if data["source"] == "mnist" else "  <- NOT full MNIST: not comparable with the paper"
    return f"  data:          {data['source']}, {sizes} digits{loud}"


def describe_stored(
    stored: Sequence[Mapping[str, Any]],
    results_root: str | os.PathLike = "data/results",
    profile: str | Profile = "full",
    experiment: str = "mnist",
) -> list[str]:
    """Lines describing the stored runs of a profile (or their absence): their provenance.

    Args:
        stored: the runs, as :func:`hvae.experiments.load_results` (MNIST) or
            :func:`hvae.experiments.load_circle_results` (Figure 1) returns them.
        results_root: where they were read from, as the text should name it (a path relative
            to the repository, e.g. ``"data/results"``).
        profile: the profile they belong to (its name is printed).
        experiment: ``"mnist"``, ``"circle"``, ``"semisupervised"`` or ``"link"``, for the
            command that makes missing runs.

    Returns:
        Without runs, one line saying there is nothing to compare with the paper and how to
        make the runs (``python -m hvae.experiments``). Otherwise a heading with the number of
        runs and the folder, then the git commit(s) (10 hex digits, marked when the tree had
        uncommitted changes, and whether ``hvae/`` has changed between each and the checked-out
        tree: :func:`~hvae.experiments.provenance.code_changed_since`), the range of dates
        (UTC), the device(s) with their thread counts, one line per data set (source and split
        sizes; MNIST marked loudly when it is not the full set, i.e. not comparable with the
        paper), and an empty line, ready for a table to follow.
    """
    name = profile.name if isinstance(profile, Profile) else str(profile)
    folder = f"{Path(results_root) / name}/"
    if not stored:
        option = "" if experiment == "mnist" else f"--experiment {experiment} "
        return [f"No stored results of the {name} profile in {folder}: `make reproduce` "
                f"(python -m hvae.experiments {option}--profile {name} --device cuda) has not "
                "written any yet, so there is nothing to compare with the paper here."]
    prov = [r["provenance"] for r in stored]
    changes = {commit: _code_change(commit) for commit in {p["git_commit"] for p in prov}}
    commits = sorted({f"{p['git_commit'][:10]}{' (uncommitted changes)' if p['git_dirty'] else ''}"
                      f"{changes[p['git_commit']]}" for p in prov})
    dates = sorted(p["date_utc"] for p in prov)
    devices = sorted({p["device"] for p in prov})
    lines = [f"STORED RESULTS OF THE {name.upper()} PROFILE ({len(stored)} runs in {folder}; "
             "not recomputed by this page)",
             f"  git commit(s): {', '.join(commits)}",
             f"  dates (UTC):   {dates[0]} .. {dates[-1]}",
             f"  device(s):     {'; '.join(devices)}"]
    lines += sorted({_data_line(p["data"]) for p in prov})
    lines.append("")
    return lines
