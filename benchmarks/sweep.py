"""Benchmark: an experiment grid (default: the quick Table 1 grid, 6 runs) run serially and as
Dask tasks (not a test).

Runs ``python -m hvae.experiments --profile quick`` from scratch into fresh temporary
folders, each time in a new process (what a user runs), in three ways: serially with torch's
default threads, serially with one thread (``OMP_NUM_THREADS=1``, what each Dask worker
uses), and with ``--scheduler local:N`` for each N asked; the repetitions of all of them are
interleaved, in a rotated order, so that all see the same machine load. Prints the median
wall time of each, the speed-up over the serial run, the per-run training times (from the
stored results) and the speed-up a grid of those runs could expect on N workers with no
overhead (:func:`hvae.experiments.expected_speedup`: the longest-processing-time schedule's
makespan), so the measured overhead of starting a cluster can be read off.

    .venv/bin/python benchmarks/sweep.py [--reps 3] [--workers 2] [--profile quick]
        [--experiment mnist|link|circle|semisupervised]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hvae.experiments import expected_speedup


def _grid(experiment: str, profile: str, scheduler: str | None, threads: int | None
          ) -> tuple[float, list[float]]:
    """(wall seconds of one grid from scratch, the runs' wall times from their results)."""
    with tempfile.TemporaryDirectory(prefix="hvae-sweep-") as tmp:
        cmd = [sys.executable, "-m", "hvae.experiments", "--experiment", experiment,
               "--profile", profile, "--allow-dirty",
               "--out-root", f"{tmp}/runs", "--results-root", f"{tmp}/results"]
        if scheduler:
            cmd += ["--scheduler", scheduler]
        env = dict(os.environ)
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        tic = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - tic
        runs = [json.loads(p.read_text())["provenance"]["wall_time_s"]
                for p in Path(tmp, "results", profile).glob("*.json")]
    return wall, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--experiment", default="mnist",
                        help="mnist (Table 1, the default), link (Table 4), ...")
    args = parser.parse_args()
    ways = {"serial (default threads)": (None, None), "serial (1 thread)": (None, 1)}
    ways.update({f"local:{n}": (f"local:{n}", None) for n in args.workers})
    walls: dict[str, list[float]] = {w: [] for w in ways}
    per_run: dict[str, list[float]] = {w: [] for w in ways}
    names = list(ways)
    for rep in range(args.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            wall, runs = _grid(args.experiment, args.profile, *ways[name])
            walls[name].append(wall)
            per_run[name] += runs
    run_times = per_run["serial (1 thread)"][:len(per_run["serial (1 thread)"]) // args.reps]
    base = statistics.median(walls["serial (default threads)"])
    print(f"{args.experiment} profile {args.profile!r}: {len(run_times)} runs, "
          f"{args.reps} repetitions, "
          f"{os.cpu_count()} cores")
    print(f"{'how':26s} {'median wall s':>13s} {'speed-up':>9s} {'median s per run':>17s}")
    for name in names:
        med = statistics.median(walls[name])
        print(f"{name:26s} {med:13.1f} {base / med:9.2f} {statistics.median(per_run[name]):17.1f}")
    print(f"\nper-run wall time (1 thread): median {statistics.median(run_times):.1f} s, "
          f"sum {sum(run_times):.1f} s")
    print("expected speed-up on N workers (runs alone, no start-up overhead):")
    for n in (1, 2, 4, 8, 16):
        print(f"  N={n:2d}: {expected_speedup(run_times, n):5.2f}")


if __name__ == "__main__":
    main()
