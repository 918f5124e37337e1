"""Benchmark: one training step and one epoch of the N-VAE and the S-VAE (not a test).

Measures, side by side in one process, the median wall time of one Adam step (forward,
backward, optimizer step; batch 64 by default, the paper's MLP 784-256-128, paper's d = 10:
R^10 for the N-VAE, S^10 in R^11 for the S-VAE), eager and under ``torch.compile`` (the loss,
forward and backward, compiled by ``torch.compile(model.loss)`` and the Adam step by
``torch.compile(optimizer.step)``: compiled once, warmed up, then timed), with the repetitions
of all four (N eager, S eager, N compiled, S compiled) interleaved, in an order rotated from
one repetition to the next, so that all see the same machine load; and the time of one eager
epoch over the training split of the offline MNIST subset (3,500 digits, dynamically
binarised) at the same batch size. Target (issue 12): S-VAE eager step <= 1.05 x N-VAE step
(printed, never asserted).

    .venv/bin/python benchmarks/train_step.py [--reps 300] [--threads 1] [--batch 64]
        [--no-compile] [--profile] [--breakdown]

``--profile`` also prints the torch.profiler table of the eager S-VAE step (top operators by
self CPU time) and ``--breakdown`` the median time of each stage of an eager step, to see
where the extra time goes.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from hvae.data import load_mnist, make_loader
from hvae.models import VAE
from hvae.train import TrainConfig, train_epoch

LATENTS = {"N-VAE": "normal", "S-VAE": "vmf"}


def _step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> None:
    loss = model.loss(x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def compiled_step(model: VAE, optimizer: torch.optim.Optimizer):
    """One training step with the loss (forward and backward) and the Adam step compiled."""
    loss_fn = torch.compile(model.loss)
    opt_step = torch.compile(optimizer.step)

    def step(x: torch.Tensor) -> None:
        loss = loss_fn(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        opt_step()

    return step


def eager_step(model: VAE, optimizer: torch.optim.Optimizer):
    return lambda x: _step(model, optimizer, x)


def time_steps(steps: dict, batches: list[torch.Tensor], reps: int) -> dict[str, list[float]]:
    """Interleaved timings (seconds) of single steps, the order rotated every repetition."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(reps):
        x = batches[i % len(batches)]
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            tic = time.perf_counter()
            steps[name](x)
            times[name].append(time.perf_counter() - tic)
    return times


def time_epoch(model: VAE, images, batch: int = 64, seed: int = 0) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = make_loader(images, batch, shuffle=True, binarize=True, seed=seed)
    config = TrainConfig(epochs=1, warmup_epochs=0)
    tic = time.perf_counter()
    train_epoch(model, loader, optimizer, config, 0, torch.device("cpu"))
    return time.perf_counter() - tic


def _stages(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> dict[str, float]:
    """Wall time (seconds) of each stage of one training step, in the order they run."""
    marks = [("start", time.perf_counter())]

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter()))

    h = model.encoder(x)
    mark("encoder MLP")
    z, kl = model._sample_with_kl(h)
    mark("latent: heads, draw z, KL")
    rec = model.log_likelihood(x, model.decode(z))
    mark("decoder + likelihood")
    loss = (kl - rec).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    mark("backward")
    optimizer.step()
    mark("Adam step")
    return {name: t - marks[i][1] for i, (name, t) in enumerate(marks[1:])}


def breakdown(models: dict, batches: list[torch.Tensor], reps: int) -> dict[str, dict]:
    """Median time of each stage, per model (interleaved repetitions)."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for i in range(reps):
        for name, (model, optimizer) in models.items():
            runs[name].append(_stages(model, optimizer, batches[i % len(batches)]))
    return {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }


def profile_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> str:
    from torch.profiler import ProfilerActivity, profile

    for _ in range(10):
        _step(model, optimizer, x)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(50):
            _step(model, optimizer, x)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)


def _models(dim: int) -> dict:
    models = {}
    for name, latent in LATENTS.items():
        torch.manual_seed(0)
        model = VAE(latent, dim)
        models[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="timed steps per model")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--dim", type=int, default=10, help="the paper's d")
    parser.add_argument("--batch", type=int, default=64, help="batch size")
    parser.add_argument("--epoch-reps", type=int, default=3, help="timed epochs per model")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled column")
    parser.add_argument("--profile", action="store_true", help="torch.profiler of the S-VAE")
    parser.add_argument("--breakdown", action="store_true", help="time of each stage of a step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    images = load_mnist(split="train", source="mnist-5k-subset").images
    loader = make_loader(images, args.batch, shuffle=True, binarize=True, seed=0, drop_last=True)
    batches = [x for _, x in zip(range(20), loader, strict=False)]
    models = _models(args.dim)
    steps = {f"{name} eager": eager_step(*pair) for name, pair in models.items()}
    compile_s: dict[str, float] = {}
    if not args.no_compile:
        for name, pair in _models(args.dim).items():
            step = compiled_step(*pair)
            tic = time.perf_counter()
            for x in itertools.islice(itertools.cycle(batches), 3):  # compile, then recompile
                step(x)  # (if any) on the second call, as dynamo marks shapes dynamic
            compile_s[name] = time.perf_counter() - tic
            steps[f"{name} compiled"] = step
    time_steps(steps, batches, 20)  # warm-up
    timings = time_steps(steps, batches, args.reps)
    med = {name: statistics.median(t) for name, t in timings.items()}
    epoch_times: dict[str, list[float]] = {name: [] for name in LATENTS}
    for _ in range(args.epoch_reps):  # interleaved too: N, S, N, S, ...
        for name, latent in LATENTS.items():
            torch.manual_seed(0)
            epoch_times[name].append(time_epoch(VAE(latent, args.dim), images, args.batch))
    epochs = {name: statistics.median(t) for name, t in epoch_times.items()}

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), d = {args.dim}, "
        f"batch {args.batch}, {args.reps} interleaved steps each; epoch = {len(images)} digits"
    )
    compiled = not args.no_compile
    head = "| model | eager step (ms) | eager ratio to N-VAE |"
    rule = "|---|---|---|"
    if compiled:
        head += " compiled step (ms) | compiled ratio to N-VAE | eager / compiled | compile (s) |"
        rule += "---|---|---|---|"
    print(head + " eager epoch (s) |")
    print(rule + "---|")
    for name in LATENTS:
        eager = med[f"{name} eager"]
        row = f"| {name} | {1e3 * eager:.2f} | {eager / med['N-VAE eager']:.2f} |"
        if compiled:
            comp = med[f"{name} compiled"]
            row += (f" {1e3 * comp:.2f} | {comp / med['N-VAE compiled']:.2f} | "
                    f"{eager / comp:.2f} | {compile_s[name]:.1f} |")
        print(row + f" {epochs[name]:.2f} |")
    ratio = med["S-VAE eager"] / med["N-VAE eager"]
    print(f"target: S-VAE eager step <= 1.05 x N-VAE step: "
          f"{'met' if ratio <= 1.05 else 'NOT met'} ({ratio:.3f})")
    if args.breakdown:
        stages = breakdown(models, batches, args.reps)
        print("\n| stage (median ms, eager) | " + " | ".join(LATENTS) + " |")
        print("|---|" + "---|" * len(LATENTS))
        for stage in stages["S-VAE"]:
            row = " | ".join(f"{1e3 * stages[n].get(stage, 0.0):.2f}" for n in LATENTS)
            print(f"| {stage} | {row} |")
    if args.profile:
        model, optimizer = models["S-VAE"]
        print(profile_step(model, optimizer, batches[0]))


if __name__ == "__main__":
    main()
