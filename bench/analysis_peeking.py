"""Peeking: A/A experiments looked at daily for 14 days.

Prints, per metric, the share of experiments that some daily look declares
significant with the naive fixed-horizon test (inflated) and with the
always-valid p-value (target <= 0.05), and the naive test's rate at the final
look alone.

    .venv/bin/python bench/analysis_peeking.py [--sims 2000] [--per-day 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analysis.simulation import load_population, simulate_peeking

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--per-day", type=int, default=200)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    population = load_population(args.data)
    started = time.perf_counter()
    rates = simulate_peeking(
        population,
        users_per_day=args.per_day,
        days=args.days,
        sims=args.sims,
        seed=args.seed,
    )
    print(
        f"Peeking: {args.sims:,} A/A experiments, {args.per_day} users a day, "
        f"a look every day for {args.days} days, seed {args.seed}"
    )
    print(
        f"{'metric':<22}{'naive any':>10}{'naive last':>11}{'sequential':>11}  verdict"
    )
    for r in rates:
        verdict = "ok" if r.sequential <= 0.05 else "ABOVE 0.05"
        print(
            f"{r.metric:<22}{r.naive:>10.3f}{r.naive_final_only:>11.3f}"
            f"{r.sequential:>11.3f}  {verdict}"
        )
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
