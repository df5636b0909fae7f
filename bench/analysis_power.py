"""Power: inject the calculator's MDE and count how often the test finds it.

For n users per arm, the power calculator's minimum detectable effect (80%
power, alpha 0.05) is injected into the treatment arm; the detection rate
must be within 3 points of the promised power.

    .venv/bin/python bench/analysis_power.py [--sims 2000] [--n 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analysis.simulation import load_population, simulate_power

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--n", type=int, default=2000, help="users per arm")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    population = load_population(args.data)
    started = time.perf_counter()
    checks = simulate_power(
        population, n_per_arm=args.n, sims=args.sims, seed=args.seed
    )
    print(
        f"Power: {args.sims:,} experiments, {args.n:,} users per arm, seed {args.seed}"
    )
    print(f"{'metric':<22}{'MDE (rel)':>10}{'promised':>10}{'detected':>10}  verdict")
    for c in checks:
        verdict = "ok" if abs(c.detected - c.promised) <= 0.03 else "OFF BY > 3 POINTS"
        print(
            f"{c.metric:<22}{c.relative_mde:>10.2%}{c.promised:>10.3f}"
            f"{c.detected:>10.3f}  {verdict}"
        )
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
