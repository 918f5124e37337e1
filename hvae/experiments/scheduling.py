"""Running a grid of experiment runs: in this process, or as tasks on Dask.

A grid is a list of :class:`Job`: a label, whether the run is already *finished* (its result
and its checkpoint exist, :func:`job_finished`) and the call that runs it (train if not done,
evaluate, write the result JSON; every runner of :mod:`hvae.experiments` resumes an
interrupted training and writes atomically, under the run directory's lock).

**Schedulers** (:func:`parse_scheduler`, the command line's ``--scheduler``):

* ``none``: in this process, one run after the other (the default; the chapters and CI);
  the first failure stops the loop, as the runner always has.
* ``local`` or ``local:N``: a ``distributed.LocalCluster`` of N worker processes on
  loopback (N: the machine's cores), each with one thread and one torch thread.
* ``tcp://HOST:PORT`` (or ``tls://``, ``ws://``, ``wss://``): a running Dask scheduler, any
  deployment (dask-jobqueue on Slurm or PBS, dask-kubernetes, a hand-started
  ``dask scheduler``); its workers must see the same results and runs folders, and an
  installed ``hvae``.

With Dask, one task is one run. Finished runs are skipped before anything is submitted; a
failed run is reported (its label and the worker's one-line error) and the others go on. A
worker that dies loses only its own run, which the scheduler retries on another worker (up
to ``distributed.scheduler.allowed-failures`` times) or the next call resumes from its last
checkpoint. With one thread per worker on the CPU, a run gives the same numbers, to the last
bit, as the same run in a process that also uses one thread (``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvae.train import CHECKPOINT

__all__ = ["CONNECT_TIMEOUT", "GridReport", "Job", "Scheduler", "expected_speedup",
           "job_finished", "parse_scheduler", "run_grid"]

#: Seconds to wait for a scheduler at ``tcp://HOST:PORT`` to answer before giving up.
CONNECT_TIMEOUT = 10.0

_ADDRESS = re.compile(r"^(tcp|tls|ws|wss)://(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


@dataclass(frozen=True)
class Scheduler:
    """Where a grid runs: ``kind`` ``"none"``, ``"local"`` (``workers`` processes) or
    ``"address"`` (``address``, a running scheduler)."""

    kind: str
    workers: int | None = None
    address: str | None = None


def parse_scheduler(spec: str) -> Scheduler:
    """The :class:`Scheduler` of a ``--scheduler`` value (see the module docstring).

    Raises:
        ValueError: one line naming ``--scheduler``, for ``local:0``, ``local:-1``,
            ``local:x``, an address without a scheme or port, or a port outside 1..65535.
    """
    if not isinstance(spec, str):
        raise ValueError(f"--scheduler: must be a string, got {spec!r}")
    if spec == "none":
        return Scheduler("none")
    if spec == "local":
        return Scheduler("local", workers=os.cpu_count() or 1)
    if spec.startswith("local:"):
        count = spec.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--scheduler: local:N needs a whole number of workers N >= 1, "
                             f"got {spec!r}")
        return Scheduler("local", workers=int(count))
    match = _ADDRESS.match(spec)
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ValueError(f"--scheduler: must be none, local, local:N (N >= 1) or a scheduler "
                         f"address such as tcp://HOST:PORT (port 1..65535), got {spec!r}")
    return Scheduler("address", address=spec)


@dataclass(frozen=True)
class Job:
    """One run of a grid: ``label`` (its parameters, for messages; unique in the grid),
    ``finished`` (skipped by Dask; the serial loop calls it anyway, and the runner returns the
    stored result), ``run`` (a picklable callable: a ``functools.partial`` of a runner)
    and ``after``, the labels of the jobs it needs first (an M2 run its M1, so that two M2
    runs never train their shared M1 at once; the serial loop relies on the order)."""

    label: str
    finished: bool
    run: Callable[[], Any]
    after: tuple[str, ...] = ()


def job_finished(result_file: str | os.PathLike, run_dir: str | os.PathLike) -> bool:
    """Whether a run is finished: its result JSON and its checkpoint both exist (what the
    runners' :func:`~hvae.experiments.runs.stored_result` then verifies)."""
    return Path(result_file).is_file() and (Path(run_dir) / CHECKPOINT).is_file()


@dataclass
class GridReport:
    """What :func:`run_grid` did: ``submitted`` runs (0 when the grid was complete), the
    labels of the ``failed`` ones with their one-line errors."""

    total: int
    submitted: int
    failed: list[tuple[str, str]]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def _task(run: Callable[[], Any], *needed: Any) -> None:
    """What a Dask worker executes: the run, with one torch thread (the result is on disk);
    ``needed``: the futures of the jobs it comes after (Dask starts it once they are done)."""
    import torch

    torch.set_num_threads(1)
    run()


def run_grid(jobs: Sequence[Job], scheduler: Scheduler, name: str,
             failures: tuple[type[BaseException], ...] = (Exception,),
             connect_timeout: float = CONNECT_TIMEOUT) -> GridReport:
    """Run ``jobs`` (a grid of profile ``name``) on ``scheduler``; returns a
    :class:`GridReport`. ``failures``: the exceptions a run may meet that are reported as a
    failed run (anything else propagates, in the serial loop).

    Raises:
        ConnectionError: one line, when no scheduler answers at the address within
            ``connect_timeout`` seconds.
    """
    if scheduler.kind == "none":
        return _serial(jobs, name, failures)
    return _on_dask(jobs, scheduler, name, connect_timeout)


def _serial(jobs: Sequence[Job], name: str,
            failures: tuple[type[BaseException], ...]) -> GridReport:
    from tqdm.auto import tqdm

    bar = tqdm(jobs, desc=f"{name} runs", unit="run")
    for job in bar:
        bar.set_postfix_str(f"{job.label}{' (stored)' if job.finished else ''}")
        try:
            job.run()
        except failures as exc:
            bar.close()
            return GridReport(len(jobs), len(jobs), [(job.label, _one_line(exc))])
    bar.close()
    return GridReport(len(jobs), len(jobs), [])


def _client(scheduler: Scheduler, connect_timeout: float):
    from distributed import Client, LocalCluster

    if scheduler.kind == "local":
        cluster = LocalCluster(n_workers=scheduler.workers, threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(scheduler.address, timeout=connect_timeout), None
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"--scheduler: no Dask scheduler answered at "
                              f"{scheduler.address} within {connect_timeout:g} s "
                              f"({_one_line(exc)})") from None


def _on_dask(jobs: Sequence[Job], scheduler: Scheduler, name: str,
             connect_timeout: float) -> GridReport:
    from distributed import as_completed
    from tqdm.auto import tqdm

    todo = [job for job in jobs if not job.finished]
    if not todo:
        return GridReport(len(jobs), 0, [])
    client, cluster = _client(scheduler, connect_timeout)
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=f"{name} runs",
               unit="run")
    try:
        futures, by_label = {}, {}
        for i, job in enumerate(todo):
            needed = [by_label[label] for label in job.after if label in by_label]
            future = client.submit(_task, job.run, *needed, pure=False,
                                   key=f"hvae-run-{i}-{_slug(job.label)}")
            futures[future], by_label[job.label] = job, future
        running = len(futures)
        bar.set_postfix(running=running, failed=0)
        for future in as_completed(futures):
            running -= 1
            try:
                future.result()
            except Exception as exc:  # the worker's error, or a worker lost too often
                failed.append((futures[future].label, _one_line(exc)))
                print(f"hvae.experiments: error: {futures[future].label} (profile {name!r}): "
                      f"{_one_line(exc)}", file=sys.stderr)
            bar.update(1)
            bar.set_postfix(running=running, failed=len(failed))
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return GridReport(len(jobs), len(todo), failed)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", label)[:60]


def expected_speedup(run_seconds: Sequence[float], workers: int) -> float:
    """Serial time over the longest-processing-time schedule's makespan on ``workers``
    workers (each run on one worker; no overhead): the speed-up a grid can expect."""
    loads = [0.0] * workers
    for t in sorted(run_seconds, reverse=True):
        loads[loads.index(min(loads))] += t
    return sum(run_seconds) / max(loads) if run_seconds else math.nan
