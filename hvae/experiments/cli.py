"""The command line of the experiments: ``python -m hvae.experiments`` (``make reproduce``).

::

    python -m hvae.experiments --profile full --device cuda [--dims 2 5] [--seeds 0 1]

loops over the profile's latents (normal, vmf) x dims x seeds, skipping runs whose result and
checkpoint exist; an interrupted training resumes from its checkpoint. ``--experiment circle``
runs Figure 1's five models over the seeds of a circle profile instead
(:data:`~hvae.experiments.circle.CIRCLE_PROFILES`: ``quick`` or ``full``), skipping stored
runs; ``--experiment semisupervised`` runs Table 3's M1 + M2 grid
(:data:`~hvae.experiments.semisupervised.SEMI_PROFILES`; ``--dims`` picks z1's d);
``--experiment link`` runs Table 4's VGAE and S-VGAE on the citation graphs
(:data:`~hvae.experiments.link_prediction.LINK_PROFILES`; ``--graphs`` picks them; a graph
whose files are missing is a one-line error naming where they were looked for).
``--scheduler local:N`` or ``--scheduler tcp://HOST:PORT`` runs the grid as Dask tasks
(:mod:`~hvae.experiments.scheduling`; default ``none``: in this process). It
refuses to run from a working tree with uncommitted changes to tracked files, whose results
no commit could reproduce, unless ``--allow-dirty`` (the results then record
``git_dirty: true``). A bad argument is one line on standard error (``hvae.experiments:
error: NAME: must be ..., got ...``) and exit status 1.
So is the expected failure of a run, which stops the loop (the runs before it are stored):
``hvae.experiments: error: S-VAE d=2 seed=0 (profile 'quick'): CAUSE``, where the cause is a
diverged training, a damaged checkpoint or stored result, a run directory that another process
is using, a file that cannot be read or written, or CUDA running out of memory. Anything else
is a bug and ends in a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from hvae._validation import check_choice, check_int, check_out_dir, check_seed, resolve_device
from hvae.data import PLANETOID_SHA256
from hvae.experiments.circle import (
    CIRCLE_MODELS,
    CIRCLE_PROFILES,
    circle_result_path,
    run_circle,
)
from hvae.experiments.link_prediction import (
    GRAPH_MODEL_NAMES,
    LINK_PROFILES,
    link_result_path,
    link_run_dir,
    run_link,
)
from hvae.experiments.paper import MODEL_NAMES, PAPER_LATENTS
from hvae.experiments.profiles import PROFILES, get_profile
from hvae.experiments.provenance import git_state
from hvae.experiments.runs import result_path, run_dir, run_mnist
from hvae.experiments.scheduling import Job, job_finished, parse_scheduler, run_grid
from hvae.experiments.semisupervised import (
    SEMI_PROFILES,
    m2_result_path,
    m2_run_dir,
    pair_name,
    run_m2,
)
from hvae.train import CheckpointError, TrainingDivergedError

__all__ = ["main"]

# What a run may meet that is not a bug of the package; ValueError covers the documented
# refusals of run_mnist (a stored result of other profile parameters, a resume with other
# settings) and a result that is not valid JSON.
_RUN_FAILURES = (TrainingDivergedError, CheckpointError, OSError, ValueError,
                 torch.cuda.OutOfMemoryError)  # OSError: BlockingIOError for a run dir in use


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hvae.experiments",
        description="Run the MNIST experiments (Tables 1 and 2) of a profile; runs whose "
        "result and checkpoint exist are skipped, interrupted trainings resume from their "
        "checkpoint.",
    )
    p.add_argument("--experiment", default="mnist",
                   choices=("mnist", "circle", "semisupervised", "link"),
                   help="mnist: Tables 1 and 2 (default); circle: Figure 1 over seeds; "
                   "semisupervised: Table 3 (M1 + M2); link: Table 4 (graph VAEs)")
    p.add_argument("--profile", default="quick",
                   help=f"mnist: one of {', '.join(PROFILES)}; circle: one of "
                   f"{', '.join(CIRCLE_PROFILES)}")
    p.add_argument("--dims", type=int, nargs="+",
                   help="the paper's d (semisupervised: of z1; default: the profile's)")
    p.add_argument("--seeds", type=int, nargs="+", help="default: the profile's")
    p.add_argument("--latents", nargs="+", choices=PAPER_LATENTS,
                   help="default: the profile's")
    p.add_argument("--graphs", nargs="+", help="link: Planetoid graphs (default: the profile's)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--out-root", default="runs", help="training runs (checkpoints)")
    p.add_argument("--results-root", default="data/results", help="result JSON files")
    p.add_argument("--epoch-progress", action="store_true", help="a progress bar per run too")
    p.add_argument("--scheduler", default="none",
                   help="none: in this process (default); local or local:N: N worker "
                   "processes on this machine (default N: the cores); tcp://HOST:PORT: a "
                   "running Dask scheduler")
    p.add_argument("--allow-dirty", action="store_true",
                   help="run from a tree with uncommitted changes (recorded in the results)")
    return p


def _mnist_jobs(args) -> tuple[str, list]:
    """(profile name, [(label, stored?, run)]) of the MNIST runs the arguments ask for."""
    prof = get_profile(args.profile)
    dims = tuple(check_int(d, "dims", minimum=1) for d in args.dims or prof.dims)
    seeds = tuple(check_seed(s, "--seeds") for s in args.seeds or prof.seeds)
    device = str(resolve_device(args.device, "--device"))
    jobs = []
    for latent in args.latents or prof.latents:
        for d in dims:
            for s in seeds:
                run = functools.partial(run_mnist, latent, d, s, prof, out_root=args.out_root,
                                        results_root=args.results_root, device=device,
                                        resume=True, progress=args.epoch_progress)
                done = job_finished(result_path(latent, d, s, prof, args.results_root),
                                    run_dir(latent, d, s, prof, args.out_root))
                jobs.append(Job(f"{MODEL_NAMES[latent]} d={d} seed={s}", done, run))
    return prof.name, jobs


def _circle_jobs(args) -> tuple[str, list]:
    """(profile name, [(label, stored?, run)]) of the circle runs (``--dims`` and
    ``--latents`` do not apply)."""
    if args.dims or args.latents:
        raise ValueError("--dims and --latents: not for --experiment circle (its five models "
                         "are fixed)")
    prof = CIRCLE_PROFILES[check_choice(args.profile, "--profile", tuple(CIRCLE_PROFILES))]
    seeds = tuple(check_seed(s, "--seeds") for s in args.seeds or prof.seeds)
    device = str(resolve_device(args.device, "--device"))
    jobs = [Job(f"{name} seed={s}", circle_result_path(name, s, prof, args.results_root).is_file(),
                functools.partial(run_circle, name, s, prof, results_root=args.results_root,
                                  out_root=args.out_root, device=device))
            for name in CIRCLE_MODELS for s in seeds]
    return prof.name, jobs


def _m1_job(latent: str, d: int, seed: int, profile, args, device: str) -> Job:
    """The Table 1 run an M2 run starts from (its M1)."""
    prof = get_profile(profile)
    return Job(f"M1 {MODEL_NAMES[latent]} d={d} seed={seed}",
               job_finished(result_path(latent, d, seed, prof, args.results_root),
                            run_dir(latent, d, seed, prof, args.out_root)),
               functools.partial(run_mnist, latent, d, seed, prof, out_root=args.out_root,
                                 results_root=args.results_root, device=device, resume=True))


def _semi_jobs(args) -> tuple[str, list]:
    """(profile name, [(label, stored?, run)]) of the Table 3 runs (``--dims``: z1's d)."""
    if args.latents:
        raise ValueError("--latents: not for --experiment semisupervised (its pairs are fixed)")
    prof = SEMI_PROFILES[check_choice(args.profile, "--profile", tuple(SEMI_PROFILES))]
    z1_dims = tuple(check_int(d, "--dims", minimum=1) for d in args.dims or prof.z1_dims)
    seeds = tuple(check_seed(s, "--seeds") for s in args.seeds or prof.seeds)
    device = str(resolve_device(args.device, "--device"))
    m2_jobs, m1_jobs = [], {}
    for z1 in z1_dims:
        for s in seeds:
            for pair in prof.pairs:
                for z2 in prof.z2_dims:
                    done = job_finished(m2_result_path(pair, z1, z2, s, prof, args.results_root),
                                        m2_run_dir(pair, z1, z2, s, prof, args.out_root))
                    m1 = _m1_job(pair[0], z1, s, prof.m1_profile, args, device)
                    if not done:
                        m1_jobs.setdefault(m1.label, m1)
                    m2_jobs.append(Job(f"{pair_name(pair)} z1={z1} z2={z2} seed={s}", done,
                                       functools.partial(run_m2, pair, z1, z2, s, prof,
                                                         out_root=args.out_root,
                                                         results_root=args.results_root,
                                                         device=device,
                                                         progress=args.epoch_progress),
                                       after=() if done else (m1.label,)))
    # M1 first: an M1 that several M2 runs share is trained once, before any of them
    jobs = list(m1_jobs.values()) + m2_jobs
    return prof.name, jobs


def _link_jobs(args) -> tuple[str, list]:
    """(profile name, [(label, stored?, run)]) of the Table 4 runs (``--dims``: not used)."""
    if args.dims:
        raise ValueError("--dims: not for --experiment link (the codes have the profile's 16 "
                         "coordinates)")
    prof = LINK_PROFILES[check_choice(args.profile, "--profile", tuple(LINK_PROFILES))]
    graphs = tuple(check_choice(g, "--graphs", tuple(PLANETOID_SHA256))
                   for g in args.graphs or prof.graphs)
    seeds = tuple(check_seed(s, "--seeds") for s in args.seeds or prof.seeds)
    device = str(resolve_device(args.device, "--device"))
    jobs = [Job(f"{GRAPH_MODEL_NAMES[latent]} {g} seed={s}",
                job_finished(link_result_path(g, latent, s, prof, args.results_root),
                             link_run_dir(g, latent, s, prof, args.out_root)),
                functools.partial(run_link, latent, g, s, prof, out_root=args.out_root,
                                  results_root=args.results_root, device=device,
                                  progress=args.epoch_progress))
            for g in graphs for latent in args.latents or prof.latents for s in seeds]
    return prof.name, jobs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiments of a profile; returns the exit status (1 on a bad argument or a
    failed run)."""
    args = _parser().parse_args(argv)
    try:
        scheduler = parse_scheduler(args.scheduler)
        check_out_dir(args.results_root, "--results-root")
        check_out_dir(args.out_root, "--out-root")
        if args.graphs and args.experiment != "link":
            raise ValueError("--graphs: only for --experiment link")
        jobs_of = {"mnist": _mnist_jobs, "circle": _circle_jobs, "semisupervised": _semi_jobs,
                   "link": _link_jobs}
        name, jobs = jobs_of[args.experiment](args)
        if not args.allow_dirty and git_state()[1]:
            raise ValueError("the working tree has uncommitted changes to tracked files (git "
                             "status), which no commit would reproduce; commit them, or pass "
                             "--allow-dirty (the results then record git_dirty: true)")
    except ValueError as exc:
        print(f"hvae.experiments: error: {exc}", file=sys.stderr)
        return 1
    try:
        report = run_grid(jobs, scheduler, name, _RUN_FAILURES)
    except ConnectionError as exc:
        print(f"hvae.experiments: error: {exc}", file=sys.stderr)
        return 1
    if report.failed:
        if scheduler.kind == "none":  # Dask printed each failure as it came
            label, message = report.failed[0]
            print(f"hvae.experiments: error: {label} (profile {name!r}): {message}",
                  file=sys.stderr)
        else:
            print(f"hvae.experiments: {len(report.failed)} of {report.submitted} runs "
                  f"failed (profile {name!r}); the others are stored", file=sys.stderr)
        return 1
    print(f"{len(jobs)} runs of profile {name!r} in {Path(args.results_root) / name}")
    return 0
