"""Median time to draw 10,000 von Mises-Fisher samples (float32, CPU), side by side.

Two tables, dimensions ambient (S^{d-1} in R^d):

- **one (mu, kappa)**: 10,000 draws of one distribution. Columns: hvae (default sampler),
  scipy.stats.vonmises_fisher (float64, its only dtype), the grid inverse CDF (hvae,
  method="inverse_cdf"), the S-VAE reference sampler (``official``: benchmarks/official_svae.py,
  a re-implementation of the algorithm of github.com/nicola-decao/s-vae-pytorch, not their
  code) and the floor: drawing and normalising 10,000 Gaussian vectors of size d, which any
  sampler of the sphere has to do.
- **batched** (what a VAE asks for): 10,000 rows, each with its own unit mu (random) and its own
  kappa, uniform in [k/sqrt(3), k sqrt(3)] around the column's k (a spread of a factor of 3).
  Columns: hvae (``VonMisesFisher(loc (n, d), kappa (n,)).sample()``), the floor (the same
  (n, d) Gaussian matrix drawn and normalised) and ``official``. scipy is n/a here: it takes one
  mu and kappa per call, and a Python loop of 10,000 calls per cell measures the loop, not a
  sampler (about 10,000 x 0.1 ms = 1 s a cell).

Ratios: hvae/floor (how close to the floor), official/hvae and scipy/hvae (how many times
faster hvae is). Below each table, the geometric mean of official/hvae over d in
{3, 10, 100, 1000} x kappa in {1, 10, 100, 1000, 10000}, and the issue's targets, met or not
(printed, never asserted). The contenders are interleaved within each repetition, in an order
rotated from one repetition to the next, so that machine noise hits them alike.

    python benchmarks/sampling.py [--repeats 7] [--n 10000] [--threads T] [--table both]

``--threads`` sets torch's intra-op threads (default: torch's own default, as before).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.stats
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_svae import OfficialStyleVonMisesFisher  # noqa: E402

from hvae.distributions import VonMisesFisher  # noqa: E402
from hvae.sampling import GridResolutionWarning  # noqa: E402

SINGLE_DIMS = (2, 3, 10, 100, 1000)
SINGLE_KAPPAS = (1, 5, 10, 100, 1000, 10000)
BATCH_DIMS = (2, 3, 4, 10, 100, 1000)
BATCH_KAPPAS = (1, 5, 10, 100, 1000, 10000)
# the cells of the geometric mean of official/hvae (issue 12)
GEO_DIMS = (3, 10, 100, 1000)
GEO_KAPPAS = (1, 10, 100, 1000, 10000)


def _timer(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _floor(n: int, d: int):
    def floor():
        g = torch.randn(n, d)
        return g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)

    return floor


def _single(d: int, kappa: float, n: int) -> dict:
    loc = torch.zeros(d)
    loc[0] = 1.0
    conc = torch.tensor(float(kappa))
    exact = VonMisesFisher(loc, conc)
    grid = VonMisesFisher(loc, conc, method="inverse_cdf")
    official = OfficialStyleVonMisesFisher(loc, conc.reshape(1))
    scipy_dist = scipy.stats.vonmises_fisher(loc.double().numpy(), kappa)
    rng = np.random.default_rng(0)
    return {
        "hvae": lambda: exact.sample((n,)),
        "scipy": lambda: scipy_dist.rvs(n, random_state=rng),
        "grid": lambda: grid.sample((n,)),
        "official": lambda: official.rsample((n,)),
        "floor": _floor(n, d),
    }


def _batched(d: int, kappa: float, n: int) -> dict:
    loc = torch.randn(n, d)
    loc = loc / torch.linalg.vector_norm(loc, dim=-1, keepdim=True)
    spread = math.sqrt(3.0)
    conc = kappa * torch.empty(n).uniform_(1 / spread, spread)  # float32, a factor 3 around k
    hvae = VonMisesFisher(loc, conc)
    official = OfficialStyleVonMisesFisher(loc, conc.unsqueeze(-1))
    return {
        "hvae": lambda: hvae.sample(),
        "official": lambda: official.rsample(),
        "floor": _floor(n, d),
    }


def _medians(fns: dict, repeats: int) -> dict[str, float]:
    """Median ms of each contender, interleaved, the order rotated every repetition."""
    for fn in fns.values():  # warm-up
        fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(_timer(fns[name]))
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def single_table(n: int, repeats: int) -> dict:
    header = (
        f"{'d':>5} {'kappa':>6} | {'hvae':>8} {'scipy':>8} {'grid':>8} {'official':>8} "
        f"{'floor':>8} | {'hvae/floor':>10} {'official/hvae':>13} {'scipy/hvae':>10}"
    )
    print(f"\none (mu, kappa), {n} draws, median of {repeats} (ms)")
    print(header)
    print("-" * len(header))
    results = {}
    for d in SINGLE_DIMS:
        for kappa in SINGLE_KAPPAS:
            med = _medians(_single(d, kappa, n), repeats)
            results[d, kappa] = med
            print(
                f"{d:>5} {kappa:>6} | {med['hvae']:8.2f} {med['scipy']:8.2f} "
                f"{med['grid']:8.2f} {med['official']:8.2f} {med['floor']:8.2f} | "
                f"{med['hvae'] / med['floor']:10.2f} {med['official'] / med['hvae']:13.1f} "
                f"{med['scipy'] / med['hvae']:10.1f}"
            )
    geo = _geomean([results[d, k]["official"] / results[d, k]["hvae"]
                    for d in GEO_DIMS for k in GEO_KAPPAS])
    slowest = min(results, key=lambda c: results[c]["scipy"] / results[c]["hvae"])
    worst = results[slowest]["scipy"] / results[slowest]["hvae"]
    print(f"geometric mean of official/hvae over d in {GEO_DIMS} x kappa in {GEO_KAPPAS}: "
          f"{geo:.1f}")
    print(f"target: faster than scipy in every cell: {'met' if worst > 1 else 'NOT met'} "
          f"(smallest scipy/hvae {worst:.2f} at d = {slowest[0]}, kappa = {slowest[1]})")
    return results


def batched_table(n: int, repeats: int) -> dict:
    header = (
        f"{'d':>5} {'kappa':>6} | {'hvae':>8} {'floor':>8} {'official':>8} {'scipy':>6} | "
        f"{'hvae/floor':>10} {'official/hvae':>13} {'scipy/hvae':>10}"
    )
    print(f"\nbatched: {n} rows, each its own mu and kappa in [k/sqrt3, k sqrt3], "
          f"median of {repeats} (ms); scipy n/a (one mu and kappa per call)")
    print(header)
    print("-" * len(header))
    results = {}
    for d in BATCH_DIMS:
        for kappa in BATCH_KAPPAS:
            med = _medians(_batched(d, kappa, n), repeats)
            results[d, kappa] = med
            print(
                f"{d:>5} {kappa:>6} | {med['hvae']:8.2f} {med['floor']:8.2f} "
                f"{med['official']:8.2f} {'n/a':>6} | {med['hvae'] / med['floor']:10.2f} "
                f"{med['official'] / med['hvae']:13.1f} {'n/a':>10}"
            )
    geo = _geomean([results[d, k]["official"] / results[d, k]["hvae"]
                    for d in GEO_DIMS for k in GEO_KAPPAS])
    print(f"geometric mean of official/hvae over d in {GEO_DIMS} x kappa in {GEO_KAPPAS}: "
          f"{geo:.1f} (target >= 3: {'met' if geo >= 3 else 'NOT met'})")
    for dims, limit in (((100, 1000), 1.5), ((3, 10), 3.0)):
        cells = [(d, k) for d in dims for k in BATCH_KAPPAS]
        ratios = {c: results[c]["hvae"] / results[c]["floor"] for c in cells}
        worst = max(ratios, key=ratios.get)
        print(f"target: hvae <= {limit}x floor for d in {dims}: "
              f"{'met' if ratios[worst] <= limit else 'NOT met'} "
              f"(largest {ratios[worst]:.2f} at d = {worst[0]}, kappa = {worst[1]})")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's default)")
    parser.add_argument("--table", choices=("both", "single", "batched"), default="both")
    args = parser.parse_args()
    # the grid column is timed past its resolution limit too (and at d = 2): no warning per cell
    warnings.filterwarnings("ignore", category=GridResolutionWarning)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, n = {args.n}, "
          f"float32, CPU")
    if args.table in ("both", "single"):
        single_table(args.n, args.repeats)
    if args.table in ("both", "batched"):
        batched_table(args.n, args.repeats)


if __name__ == "__main__":
    main()
