"""Median time to draw 10,000 von Mises-Fisher samples (float32, CPU), side by side.

Columns: hvae (default sampler), scipy.stats.vonmises_fisher (float64, its only dtype), the grid
inverse CDF (hvae, method="inverse_cdf") and the floor: drawing and normalising 10,000 Gaussian
vectors of size d, which any sampler of the sphere has to do. Dimensions are ambient (S^{d-1} in
R^d). The samplers are interleaved within each repetition so that machine noise hits them alike.

    python benchmarks/sampling.py [--repeats 7] [--n 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.stats
import torch

from hvae.distributions import VonMisesFisher

DIMS = (3, 10, 100, 1000)
KAPPAS = (1, 10, 100, 1000, 10000)


def _timer(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _samplers(d: int, kappa: float, n: int) -> dict:
    loc = torch.zeros(d)
    loc[0] = 1.0
    conc = torch.tensor(float(kappa))
    exact = VonMisesFisher(loc, conc)
    grid = VonMisesFisher(loc, conc, method="inverse_cdf")
    scipy_dist = scipy.stats.vonmises_fisher(loc.double().numpy(), kappa)
    rng = np.random.default_rng(0)

    def floor():
        g = torch.randn(n, d)
        return g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)

    return {
        "hvae": lambda: exact.sample((n,)),
        "scipy": lambda: scipy_dist.rvs(n, random_state=rng),
        "grid": lambda: grid.sample((n,)),
        "floor": floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, n = {args.n}, "
        f"median of {args.repeats} (ms)"
    )
    header = (
        f"{'d':>5} {'kappa':>6} | {'hvae':>8} {'scipy':>8} {'grid':>8} {'floor':>8} | "
        f"{'scipy/hvae':>10} {'hvae/floor':>10}"
    )
    print(header)
    print("-" * len(header))
    for d in DIMS:
        for kappa in KAPPAS:
            fns = _samplers(d, kappa, args.n)
            for fn in fns.values():  # warm-up
                fn()
            times = {name: [] for name in fns}
            for _ in range(args.repeats):
                for name, fn in fns.items():
                    times[name].append(_timer(fn))
            med = {name: 1e3 * statistics.median(t) for name, t in times.items()}
            print(
                f"{d:>5} {kappa:>6} | {med['hvae']:8.2f} {med['scipy']:8.2f} "
                f"{med['grid']:8.2f} {med['floor']:8.2f} | "
                f"{med['scipy'] / med['hvae']:10.1f} {med['hvae'] / med['floor']:10.2f}"
            )


if __name__ == "__main__":
    main()
