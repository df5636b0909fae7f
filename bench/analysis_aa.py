"""A/A experiments on users resampled from MovieLens behaviour: no true effect.

Prints, per metric, the share of experiments with p < 0.05 (target 0.04 to
0.06) and the share of 95% intervals covering zero (target 95% +- 1.5
points), plain and with CUPED. See analysis/simulation.py for how MovieLens
ratings become per-user clicks, purchases, revenue and session lengths.

    .venv/bin/python bench/analysis_aa.py [--sims 2000] [--users 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analysis.simulation import load_population, simulate_aa

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    population = load_population(args.data)
    started = time.perf_counter()
    rates = simulate_aa(population, n_users=args.users, sims=args.sims, seed=args.seed)
    print(
        f"A/A: {args.sims:,} experiments x {args.users:,} users resampled from "
        f"{population.size} MovieLens users, 50/50, seed {args.seed}"
    )
    print(
        f"{'metric':<22}{'p<0.05':>8}{'abs cov':>9}{'rel cov':>9}"
        f"{'CUPED p<0.05':>14}{'CUPED cov':>11}  verdict"
    )
    for r in rates:
        ok = (
            0.04 <= r.false_positive_rate <= 0.06
            and abs(r.absolute_coverage - 0.95) <= 0.015
        )
        print(
            f"{r.metric:<22}{r.false_positive_rate:>8.3f}{r.absolute_coverage:>9.3f}"
            f"{r.relative_coverage:>9.3f}{r.cuped_false_positive_rate:>14.3f}"
            f"{r.cuped_absolute_coverage:>11.3f}  {'ok' if ok else 'OUTSIDE TARGET'}"
        )
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
