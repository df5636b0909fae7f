from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import codes
from analysis.bayesian import chance_to_beat_control, chance_to_beat_control_beta
from analysis.significance import compare_proportions
from analysis.sufficient import SampleStats
from tests.analysis.test_reference import assert_interval, reference_case


def _s01_arms() -> tuple[SampleStats, SampleStats]:
    arms = reference_case("S01")["input"]
    control, treatment = (
        SampleStats(arms[k]["n"], arms[k]["conversions"], arms[k]["conversions"])
        for k in ("control", "treatment")
    )
    return control, treatment


def _assert_ctw(actual: float, expected: float) -> None:
    """S08's tolerance: absolute 1e-4."""
    assert abs(actual - expected) <= 1e-4, (actual, expected)


def test_chance_to_beat_control_s08_normal_reference() -> None:
    expected = reference_case("S08")["expected"]
    result = chance_to_beat_control(compare_proportions(*_s01_arms()))
    assert result.message is None
    _assert_ctw(result.absolute, expected["ctw_normal_absolute"])
    _assert_ctw(result.relative, expected["ctw_normal_relative"])
    low, high = result.relative_interval
    assert_interval(low, high, expected["credible_interval95_relative"], 0.1)


def test_chance_to_beat_control_beta_s08_exact_reference() -> None:
    expected = reference_case("S08")["expected"]["ctw_beta_binomial_exact"]
    _assert_ctw(chance_to_beat_control_beta(*_s01_arms()), expected)


def test_chance_to_beat_control_beta_agrees_with_monte_carlo() -> None:
    rng = np.random.default_rng(7)
    control, treatment = SampleStats(40, 9, 9), SampleStats(35, 12, 12)
    draws_c = rng.beta(1 + 9, 1 + 31, 400_000)
    draws_t = rng.beta(1 + 12, 1 + 23, 400_000)
    simulated = float(np.mean(draws_t > draws_c))
    exact = chance_to_beat_control_beta(control, treatment)
    assert exact == pytest.approx(simulated, abs=3e-3)


def test_chance_to_beat_control_beta_symmetric() -> None:
    control, treatment = _s01_arms()
    forward = chance_to_beat_control_beta(control, treatment)
    backward = chance_to_beat_control_beta(treatment, control)
    assert forward + backward == pytest.approx(1.0, abs=1e-12)


def test_chance_to_beat_control_beta_large_counts_use_normal() -> None:
    control = SampleStats(40_000_000, 4_000_000, 4_000_000)
    treatment = SampleStats(40_000_000, 4_004_000, 4_004_000)
    chance = chance_to_beat_control_beta(control, treatment)
    assert 0.9 < chance < 1.0


def test_chance_to_beat_control_empty_arm() -> None:
    control, treatment = SampleStats(0, 0, 0), SampleStats(100, 10, 10)
    result = chance_to_beat_control(compare_proportions(control, treatment))
    assert result.message == codes.EMPTY_ARM
    assert math.isnan(result.absolute)
    assert math.isnan(result.relative_interval[0])
    assert math.isnan(chance_to_beat_control_beta(control, treatment))


def test_chance_to_beat_control_zero_baseline() -> None:
    comparison = compare_proportions(SampleStats(800, 0, 0), SampleStats(800, 6, 6))
    result = chance_to_beat_control(comparison)
    assert result.message == codes.ZERO_BASELINE
    assert result.absolute > 0.99
    assert math.isnan(result.relative)


def test_chance_to_beat_control_beta_bad_counts_raise() -> None:
    with pytest.raises(ValueError):
        chance_to_beat_control_beta(SampleStats(10, 2.5, 2.5), SampleStats(10, 1, 1))
