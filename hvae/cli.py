"""Command line: ``python -m hvae train ...`` and ``python -m hvae evaluate RUN_DIR ...``.

Examples::

    python -m hvae train --latent vmf --dim 5 --dataset mnist --epochs 100 \\
        --out runs/svae-d5 --seed 0
    python -m hvae evaluate runs/svae-d5 --iw-samples 500

``--dim`` is the paper's d (the S-VAE lives on S^d in R^(d+1)). Data sets: ``mnist`` (the full
set when it is in the data directory, else the bundled 5k subset; dynamically binarised,
Bernoulli likelihood) and ``circle`` (the Figure 1 data in R^100: 3000 / 500 / 1000 points for
train / validation / test, sampling seeds 0 / 1 / 2; Gaussian likelihood with a learned scale
unless ``--obs-scale`` is given).

A run directory holds ``config.json`` (model, training and data settings), ``checkpoint.pt``
and ``history.json``; ``evaluate`` also writes ``eval-<split>.json`` there. While ``train``
runs, the directory also holds its lock file ``.lock``: a second ``train`` into the same
``--out`` stops at once, naming the holder's host and pid. ``evaluate`` takes no lock (it only
reads the checkpoint, which is replaced atomically, so it may evaluate a run in progress).
Errors (bad values, a missing run directory or checkpoint, a damaged or mismatched checkpoint,
a run directory in use, a diverged training) are reported in one line on stderr with exit
status 1; argument syntax errors exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hvae._io import run_lock, write_json
from hvae._validation import check_int, check_number, check_out_dir, check_seed, resolve_device
from hvae.data import DATASETS, fixed_binarization, load_dataset
from hvae.evaluate import evaluate, knn_accuracy, latent_codes
from hvae.models import LATENTS, VAE
from hvae.train import (
    CHECKPOINT,
    TrainConfig,
    load_checkpoint,
    model_from_checkpoint,
    seed_everything,
    train,
)

__all__ = ["KAPPA_MAX", "build_parser", "main"]

#: Largest ``--kappa`` of ``vmf-fixed``. The model works in float32: Wood's sampler forms
#: sqrt(4 kappa^2 + d^2), and kappa^2 overflows float32 near kappa = 1.8e19 (1e20 gives the same
#: ELBO as 1e38; 1e300 does not fit in float32 at all). Up to 1e12 one-epoch runs were checked to
#: give finite ELBOs that fall with kappa as the KL predicts.
KAPPA_MAX = 1e12


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _model_for(args: argparse.Namespace) -> VAE:
    real_valued = args.dataset == "circle"
    return VAE(
        args.latent,
        args.dim,
        input_dim=100 if real_valued else 784,
        likelihood="gaussian" if real_valued else "bernoulli",
        beta=args.beta,
        kappa=args.kappa,
        obs_scale=args.obs_scale,
    )


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> None:
    for name in ("dim", "epochs", "batch_size"):
        check_int(getattr(args, name), f"--{name.replace('_', '-')}", minimum=1)
    if args.limit is not None:
        check_int(args.limit, "--limit", minimum=1)
    check_seed(args.seed, "--seed")
    if args.kappa is not None and args.latent == "vmf-fixed":
        kappa = check_number(args.kappa, "--kappa", positive=True)
        if kappa > KAPPA_MAX:
            raise ValueError(f"--kappa: must be a number in (0, {KAPPA_MAX:g}], got {kappa!r}")
    out = check_out_dir(args.out, "--out")
    _check_checkpoint_presence(out, args.resume)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_epochs=args.warmup,
        patience=args.patience or None,
        seed=args.seed,
        binarize=args.dataset == "mnist",
        device=str(resolve_device(args.device, "--device")),
    )
    seed_everything(args.seed)
    model = _model_for(args)
    train_x, _, source = load_dataset(args.dataset, "train", limit=args.limit)
    val_x, _, _ = load_dataset(args.dataset, "validation", limit=args.limit)
    info = {"data": {"dataset": args.dataset, "source": source, "limit": args.limit}}
    with run_lock(out, "choose another --out"):
        # again under the lock: a run that finished meanwhile may have written a checkpoint
        _check_checkpoint_presence(out, args.resume)
        result = train(model, train_x, val_x, config, out, resume=args.resume,
                       progress=not args.quiet, run_info=info)
    if not args.quiet:
        print(
            f"{result.epochs_run} epochs, best validation ELBO {result.best_val_elbo:.2f} "
            f"at epoch {result.best_epoch}; run saved in {out}"
        )


def _check_checkpoint_presence(out: Path, resume: bool) -> None:
    """``--resume`` needs a checkpoint in ``--out``; a new run must not overwrite one."""
    if resume and not (out / CHECKPOINT).is_file():
        raise FileNotFoundError(f"--resume: {out} holds no checkpoint ({CHECKPOINT})")
    if not resume and (out / CHECKPOINT).exists():
        raise ValueError(f"--out: {out} already holds a checkpoint; pass --resume or a new --out")


def _load_run(run_dir: Path, device: str) -> tuple[VAE, dict[str, Any], dict[str, Any]]:
    """(model with the best parameters, its config, checkpoint) of a run directory."""
    ckpt = load_checkpoint(run_dir, map_location=device)
    model = model_from_checkpoint(ckpt, name=str(run_dir / CHECKPOINT))
    return model.to(device), ckpt["config"], ckpt


def _evaluate(args: argparse.Namespace) -> None:
    check_int(args.iw_samples, "--iw-samples", minimum=0)
    if args.limit is not None:
        check_int(args.limit, "--limit", minimum=1)
    check_seed(args.seed, "--seed")
    run_dir = Path(args.run_dir)
    model, config, ckpt = _load_run(run_dir, str(resolve_device(args.device, "--device")))
    data = config.get("data")
    if not isinstance(data, dict) or "dataset" not in data:
        raise ValueError(f"{run_dir}: its config records no data set (a run trained by "
                         "hvae.train.train without run_info={'data': ...}?)")
    source = data.get("source", "auto") if data["dataset"] == "mnist" else "auto"
    limit = args.limit if args.limit is not None else data.get("limit")
    images, labels, _ = load_dataset(data["dataset"], args.split, limit=limit, source=source)
    binarize = data["dataset"] == "mnist"
    # binarised once (seeded), for the metrics and the codes
    x = fixed_binarization(images, args.seed) if binarize else images
    report: dict[str, Any] = evaluate(
        model, x, iw_samples=args.iw_samples, binarize=False, seed=args.seed
    )
    if args.knn_labels:
        train_x, train_y, _ = load_dataset(data["dataset"], "train", source=source)
        train_codes = latent_codes(model, train_x, binarize=binarize, seed=args.seed)
        codes = latent_codes(model, x, binarize=False)
        report["knn"] = {
            str(n): knn_accuracy(train_codes, train_y, codes, labels, n, k=args.k, seed=args.seed)
            for n in args.knn_labels
        }
    report.update(split=args.split, best_epoch=ckpt["progress"]["best_epoch"])
    write_json(run_dir / f"eval-{args.split}.json", report)
    _print_report(run_dir, config, report)


def _print_report(run_dir: Path, config: dict[str, Any], report: dict[str, Any]) -> None:
    m, d = config["model"], config["data"]
    dim = m.get("manifold_dim", m.get("dim"))  # "dim": run directories from before the rename
    print(
        f"{run_dir}: {m['latent']}, d={dim}, {d.get('source', d['dataset'])} {report['split']} "
        f"(n={report['n']}), best epoch {report['best_epoch']}"
    )
    for key in ("LL", "ELBO", "RE", "KL"):
        if key in report:
            r = report[key]
            note = f"  ({report['iw_samples']} importance samples)" if key == "LL" else ""
            print(f"{key:<5} {r['mean']:9.2f} ± {r['sem']:.2f} nats{note}")
    for n, acc in report.get("knn", {}).items():
        print(f"k-NN ({n} labels): {100 * acc:.1f}%")


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hvae", description="Hyperspherical VAEs (Davidson et al., 2018).")
    commands = parser.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a model into a run directory")
    t.add_argument("--latent", choices=LATENTS, required=True)
    t.add_argument("--dim", type=int, required=True, help="the paper's d (S-VAE: S^d in R^(d+1))")
    t.add_argument("--dataset", choices=DATASETS, default="mnist")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--warmup", type=float, default=100.0, help="KL warm-up epochs (0: none)")
    t.add_argument("--patience", type=int, default=50, help="early stopping (0: never)")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    t.add_argument("--kappa", type=float, default=None, help="fixed kappa (latent vmf-fixed)")
    t.add_argument("--obs-scale", type=float, default=None, help="circle: fixed Gaussian scale")
    t.add_argument("--limit", type=int, default=None, help="use the first N examples per split")
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    t.set_defaults(func=_train)

    e = commands.add_parser("evaluate", help="evaluate a trained run")
    e.add_argument("run_dir")
    e.add_argument("--iw-samples", type=int, default=500, help="samples for LL (0: skip)")
    e.add_argument("--split", choices=("test", "validation", "train"), default="test")
    e.add_argument("--limit", type=int, default=None, help="evaluate the first N examples")
    e.add_argument("--seed", type=int, default=0, help="binarisation and sampling seed")
    e.add_argument("--knn-labels", type=int, nargs="*", default=[], help="e.g. 100 600 1000")
    e.add_argument("--k", type=int, default=5, help="neighbours of the k-NN classifier")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    e.set_defaults(func=_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, RuntimeError, FloatingPointError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"hvae {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0
