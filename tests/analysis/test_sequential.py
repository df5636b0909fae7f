from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import stats

from analysis import codes
from analysis.sequential import (
    SequentialSettings,
    always_valid,
    always_valid_effect,
)
from analysis.significance import (
    UNDEFINED_EFFECT,
    Comparison,
    Effect,
    compare_means,
    compare_proportions,
)
from analysis.sufficient import SampleStats
from tests.analysis.test_reference import (
    assert_estimate,
    assert_interval,
    assert_p_value,
    reference_case,
)


def _settings() -> SequentialSettings:
    given = reference_case("S07")["input"]
    return SequentialSettings(tuning=given["tuning_parameter"], alpha=given["alpha"])


def _s01(scale: int) -> tuple[Comparison, int]:
    arms = reference_case("S01")["input"]
    control, treatment = (
        SampleStats(
            arms[k]["n"] * scale,
            arms[k]["conversions"] * scale,
            arms[k]["conversions"] * scale,
        )
        for k in ("control", "treatment")
    )
    return compare_proportions(control, treatment), control.n + treatment.n


def _check(effect: Effect, expected: dict[str, Any]) -> None:
    assert_interval(effect.ci_low, effect.ci_high, expected["ci"], effect.estimate)
    assert_p_value(effect.p_value, expected["p_always_valid"])
    if "p_fixed_horizon" in expected:
        # the sequence uses the unpooled standard error of the Wald interval
        z = abs(effect.estimate) / effect.standard_error
        assert_p_value(2 * float(stats.norm.sf(z)), expected["p_fixed_horizon"])


def test_sequential_rho_s07_reference() -> None:
    assert_estimate(_settings().rho, reference_case("S07")["expected"]["rho"])


def test_always_valid_s07_s01_reference() -> None:
    expected = reference_case("S07")["expected"]
    comparison, n_total = _s01(1)
    result = always_valid(comparison, n_total, _settings())
    assert result.message is None
    _check(result.absolute, expected["s01_abs"])
    _check(result.relative, expected["s01_rel"])


def test_always_valid_s07_s01_times_four_reference() -> None:
    comparison, n_total = _s01(4)
    result = always_valid(comparison, n_total, _settings())
    _check(result.absolute, reference_case("S07")["expected"]["s01_x4_abs"])


def test_always_valid_s07_s02_reference() -> None:
    arms = reference_case("S02")["input"]
    control, treatment = (
        SampleStats(**arms["control"]),
        SampleStats(**arms["treatment"]),
    )
    comparison = compare_means(control, treatment)
    result = always_valid(comparison, control.n + treatment.n, _settings())
    _check(result.absolute, reference_case("S07")["expected"]["s02_abs"])


def test_always_valid_wider_than_fixed_horizon() -> None:
    comparison, n_total = _s01(1)
    result = always_valid(comparison, n_total)
    fixed = comparison.absolute
    assert result.absolute.ci_low < fixed.ci_low
    assert result.absolute.ci_high > fixed.ci_high
    assert result.absolute.p_value > fixed.p_value


def test_always_valid_effect_no_evidence_gives_p_of_one() -> None:
    effect = always_valid_effect(Effect(0.0, 0.01, -0.02, 0.02, 1.0), 1000)
    assert effect.p_value == 1.0


def test_always_valid_effect_huge_evidence_does_not_overflow() -> None:
    effect = always_valid_effect(Effect(1.0, 1e-4, 0.9998, 1.0002, 0.0), 10**7)
    assert effect.p_value == 0.0


def test_always_valid_undefined_comparison() -> None:
    comparison = compare_proportions(SampleStats(0, 0, 0), SampleStats(10, 1, 1))
    result = always_valid(comparison, 10)
    assert result.message == codes.EMPTY_ARM
    assert result.absolute is UNDEFINED_EFFECT
    assert result.relative is UNDEFINED_EFFECT


def test_always_valid_zero_baseline_keeps_absolute() -> None:
    comparison = compare_proportions(SampleStats(500, 0, 0), SampleStats(500, 9, 9))
    result = always_valid(comparison, 1000)
    assert result.message == codes.ZERO_BASELINE
    assert math.isfinite(result.absolute.p_value)
    assert result.relative is UNDEFINED_EFFECT


def test_always_valid_no_users() -> None:
    comparison, _ = _s01(1)
    result = always_valid(comparison, 0)
    assert result.message == codes.EMPTY_ARM
    assert result.absolute is UNDEFINED_EFFECT


@pytest.mark.parametrize("kwargs", [{"tuning": 0.0}, {"alpha": 0.0}])
def test_sequential_settings_bad_values_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SequentialSettings(**kwargs)
