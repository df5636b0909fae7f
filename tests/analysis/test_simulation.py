"""Small, seeded versions of the bench/analysis_*.py simulations.

Tolerances are wide enough to hold for any seed almost surely, yet a test with
the wrong variance breaks them (shown for an impression-level CTR test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.significance import compare_proportions
from analysis.simulation import (
    FOUR_METRICS,
    Population,
    load_population,
    simulate_aa,
    simulate_peeking,
    simulate_power,
    split,
)
from analysis.sufficient import RatioStats, SampleStats


@pytest.fixture(scope="module")
def population(movielens_path: Path) -> Population:
    return load_population(movielens_path)


def test_population_from_movielens_behaviour(population: Population) -> None:
    assert population.size == 943
    assert np.all(population.clicks <= population.impressions)
    assert 0.3 < population.converted.mean() < 0.9
    assert (population.revenue == 0).any() and population.revenue.max() > 100
    assert np.corrcoef(population.revenue, population.pre_revenue)[0, 1] > 0.3


def test_aa_rejects_at_the_nominal_rate(population: Population) -> None:
    rates = simulate_aa(population, n_users=1000, sims=200, seed=5)
    assert [r.metric for r in rates] == list(FOUR_METRICS)
    for r in rates:
        assert 0.01 <= r.false_positive_rate <= 0.10, r
        assert 0.90 <= r.absolute_coverage <= 0.99, r
        assert 0.90 <= r.relative_coverage <= 0.99, r
        assert 0.01 <= r.cuped_false_positive_rate <= 0.10, r


def test_aa_tolerance_catches_an_impression_level_ctr_test(
    population: Population,
) -> None:
    """Treating impressions as independent (ignoring users) must fail the A/A."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(200):
        idx = rng.integers(0, population.size, 1000)
        arms = split(population, idx, rng.random(1000) < 0.5)
        arm_stats = []
        for arm in arms.stats["click_through_rate"]:
            assert isinstance(arm, RatioStats)
            n = int(arm.denominator_sum)
            arm_stats.append(SampleStats(n, arm.numerator_sum, arm.numerator_sum))
        hits += compare_proportions(*arm_stats).absolute.p_value < 0.05
    assert hits / 200 > 0.10


def test_peeking_inflates_naive_not_sequential(population: Population) -> None:
    rates = simulate_peeking(population, users_per_day=100, days=7, sims=100, seed=6)
    for r in rates:
        assert r.sequential <= 0.06, r
        assert r.naive >= 0.08, r
        assert r.naive > r.sequential


def test_power_detects_the_calculators_mde(population: Population) -> None:
    for check in simulate_power(population, n_per_arm=1000, sims=300, seed=7):
        assert abs(check.detected - check.promised) <= 0.08, check
