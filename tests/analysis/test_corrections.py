from __future__ import annotations

import math

import pytest
from statsmodels.stats.multitest import multipletests

from analysis.corrections import (
    CorrectionMethod,
    adjust_p_values,
    adjusted_intervals,
    correct_effects,
)
from analysis.significance import UNDEFINED_EFFECT, Effect, z_effect
from tests.analysis.test_reference import assert_interval, reference_case

_METHOD_KEYS = [
    ("holm", "holm"),
    ("benjamini_hochberg", "benjamini_hochberg"),
    ("bonferroni", "bonferroni"),
]


@pytest.mark.parametrize(("method", "key"), _METHOD_KEYS)
def test_adjust_p_values_s09_reference(method: CorrectionMethod, key: str) -> None:
    case = reference_case("S09")
    adjusted = adjust_p_values(case["input"]["p_values"], method)
    for actual, expected in zip(adjusted, case["expected"][key], strict=True):
        assert abs(actual - expected) <= 1e-12


def test_adjust_p_values_default_is_holm() -> None:
    p = reference_case("S09")["input"]["p_values"]
    assert adjust_p_values(p) == adjust_p_values(p, "holm")


@pytest.mark.parametrize(
    ("method", "statsmodels_name"),
    [("holm", "holm"), ("benjamini_hochberg", "fdr_bh"), ("bonferroni", "bonferroni")],
)
def test_adjust_p_values_unsorted_agrees_with_statsmodels(
    method: CorrectionMethod, statsmodels_name: str
) -> None:
    p = [0.04, 0.2, 0.001, 0.03, 0.03, 0.8, 0.012]
    expected = multipletests(p, method=statsmodels_name)[1]
    adjusted = adjust_p_values(p, method)
    assert adjusted == pytest.approx(expected.tolist(), abs=1e-15)


def test_adjust_p_values_undefined_left_out_of_family() -> None:
    adjusted = adjust_p_values([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02)
    assert math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.04)


def test_adjust_p_values_out_of_range_raises() -> None:
    with pytest.raises(ValueError):
        adjust_p_values([0.5, 1.5])


def test_adjusted_intervals_s09_holm_reference() -> None:
    case = reference_case("S09")
    lifts = case["input"]["lifts"]
    intervals = adjusted_intervals(lifts, case["expected"]["holm"])
    expected = case["expected"]["holm_adjusted_ci95"]
    for (low, high), bounds, lift in zip(intervals, expected, lifts, strict=True):
        assert_interval(low, high, bounds, lift)


def test_adjusted_intervals_p_of_one_is_unbounded() -> None:
    (low, high), (zero_low, zero_high) = adjusted_intervals([0.3, 0.0], [1.0, 1.0])
    assert (low, high) == (-math.inf, math.inf)
    assert (zero_low, zero_high) == (-math.inf, math.inf)


def test_correct_effects_widen_and_match_p() -> None:
    effects = [z_effect(0.03, 0.01, 0.05), z_effect(0.01, 0.008, 0.05)]
    corrected = correct_effects(effects)
    adjusted = adjust_p_values([e.p_value for e in effects])
    for before, after, p_adj in zip(effects, corrected, adjusted, strict=True):
        assert after.p_value == p_adj
        assert after.ci_low <= before.ci_low and after.ci_high >= before.ci_high
    first = corrected[0]
    assert first.estimate - 1.959964 * first.standard_error == pytest.approx(
        first.ci_low
    )


def test_correct_effects_keeps_undefined() -> None:
    effect = Effect(0.02, 0.01, 0.0004, 0.0396, 0.0455)
    corrected = correct_effects([effect, UNDEFINED_EFFECT])
    assert corrected[1] is UNDEFINED_EFFECT
    assert corrected[0] == effect
