"""Accuracy of the vMF's scalar quantities at every concentration, against mpmath.

For each ambient dimension d (points of S^{d-1} in R^d) and a log grid of kappa from 1e-8 to
1e300, the worst error of log C_d (``log_normalizer``), the log density at the mode
(``log_prob(loc)``), the entropy and the KL to the uniform law, in float64, against
``tests/reference.py``'s ``vmf_exact`` (mpmath at 40 digits beyond the cancellations). The error
is relative, and absolute where the value is below 1: |got - exact| / max(1, |exact|). The last
column is float32 (kappa up to 1e38): the worst error over the four quantities in units of
float32's eps, against the exact value at the float32 kappa rounded to float32.

    python benchmarks/accuracy.py [--per-decade 4] [--dims 2,3,5,10,30,100,1000,10000]

To compare with another checkout, put it first on the path:
``PYTHONPATH=/path/to/other python benchmarks/accuracy.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_vmf_accuracy import exact_scalars, hvae_scalars  # noqa: E402 (the test's helpers)

QUANTITIES = ("log C_d", "log q(mode)", "entropy", "KL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-decade", type=int, default=4)
    parser.add_argument("--dims", default="2,3,5,10,30,100,1000,10000")
    args = parser.parse_args()
    # offset from round numbers, so that no grid point sits on a branch's threshold by design
    kappas = 10 ** (np.arange(-8 * args.per_decade, 300 * args.per_decade + 1)
                    / args.per_decade) * 1.0371
    kappas = kappas[kappas < 1.7e300]
    header = " ".join(f"{q:>12}" for q in QUANTITIES)
    print(f"worst |error| / max(1, |value|) over {len(kappas)} kappas from {kappas[0]:.1e} to "
          f"{kappas[-1]:.1e}\n{'d':>6} {header} {'at kappa':>10} | {'float32/eps':>11}")
    for d in (int(s) for s in args.dims.split(",")):
        exact = exact_scalars(d, kappas)
        err = np.abs(hvae_scalars(d, kappas, torch.float64) - exact) / np.maximum(1, np.abs(exact))
        small = kappas < 3e38
        k32 = torch.tensor(kappas[small], dtype=torch.float32).double().numpy()
        exact32 = torch.tensor(exact_scalars(d, k32)).float().double().numpy()
        err32 = (np.abs(hvae_scalars(d, k32, torch.float32) - exact32)
                 / np.maximum(1, np.abs(exact32)) / np.finfo(np.float32).eps)
        worst_at = kappas[np.unravel_index(np.argmax(err), err.shape)[1]]
        cells = " ".join(f"{e:12.1e}" for e in err.max(axis=1))
        print(f"{d:6d} {cells} {worst_at:10.1e} | {err32.max():11.1f}", flush=True)


if __name__ == "__main__":
    main()
