from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from analysis import codes
from analysis.significance import (
    Comparison,
    compare_means,
    compare_proportions,
    compare_ratios,
)
from analysis.sufficient import RatioStats, SampleStats
from tests.analysis.test_reference import (
    assert_estimate,
    assert_interval,
    assert_p_value,
    reference_case,
)


def _proportion_arm(arm: dict[str, Any]) -> SampleStats:
    return SampleStats(arm["n"], arm["conversions"], arm["conversions"])


def _s01() -> Comparison:
    case = reference_case("S01")["input"]
    return compare_proportions(
        _proportion_arm(case["control"]), _proportion_arm(case["treatment"])
    )


def _s02() -> Comparison:
    case = reference_case("S02")["input"]
    return compare_means(
        SampleStats(**case["control"]), SampleStats(**case["treatment"])
    )


def _ratio_arm(arm: dict[str, Any]) -> RatioStats:
    return RatioStats(
        n=arm["n"],
        numerator_sum=arm["sum_clicks"],
        numerator_sum_squares=arm["sum_clicks_sq"],
        denominator_sum=arm["sum_impressions"],
        denominator_sum_squares=arm["sum_impressions_sq"],
        cross_sum=arm["sum_clicks_x_impressions"],
    )


def _s03() -> Comparison:
    case = reference_case("S03")["input"]["sufficient_statistics"]
    return compare_ratios(_ratio_arm(case["control"]), _ratio_arm(case["treatment"]))


def _assert_all_nan(comparison: Comparison, *, keep_absolute: bool = False) -> None:
    effects = (
        [comparison.relative]
        if keep_absolute
        else [
            comparison.absolute,
            comparison.relative,
        ]
    )
    for effect in effects:
        assert all(
            math.isnan(x)
            for x in (
                effect.estimate,
                effect.standard_error,
                effect.ci_low,
                effect.ci_high,
                effect.p_value,
            )
        )


def test_compare_proportions_s01_reference() -> None:
    expected = reference_case("S01")["expected"]
    result = _s01()
    assert result.method == "two_proportions"
    assert result.message is None
    assert_estimate(result.control_value, expected["rate_control"])
    assert_estimate(result.treatment_value, expected["rate_treatment"])
    assert_estimate(result.absolute.estimate, expected["abs_lift"])
    assert_p_value(result.absolute.p_value, expected["p_two_sided_pooled_z"])
    assert_interval(
        result.absolute.ci_low,
        result.absolute.ci_high,
        expected["abs_ci95_wald_unpooled"],
        expected["abs_lift"],
    )
    assert_estimate(result.relative.estimate, expected["rel_lift"])
    assert_estimate(result.relative.standard_error, expected["rel_se_delta"])
    assert_interval(
        result.relative.ci_low,
        result.relative.ci_high,
        expected["rel_ci95_delta_z"],
        expected["rel_lift"],
    )
    assert_p_value(result.relative.p_value, expected["p_rel_delta_z"])


def test_compare_proportions_pooled_z_equals_chi_square() -> None:
    """The pooled z test is the 2x2 chi-square test without continuity correction."""
    result = _s01()
    table = np.array([[1000, 9000], [1100, 8900]])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert result.absolute.p_value == pytest.approx(chi2.pvalue, rel=1e-9)


def test_compare_proportions_alpha_narrows_interval() -> None:
    case = reference_case("S01")["input"]
    wide = _s01().absolute
    narrow = compare_proportions(
        _proportion_arm(case["control"]), _proportion_arm(case["treatment"]), 0.2
    ).absolute
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_compare_means_s02_reference() -> None:
    expected = reference_case("S02")["expected"]
    result = _s02()
    assert result.method == "welch"
    assert result.message is None
    assert_estimate(result.control_value, expected["mean_control"])
    assert_estimate(result.treatment_value, expected["mean_treatment"])
    assert_estimate(result.absolute.estimate, expected["abs_lift"])
    assert_estimate(
        result.absolute.estimate / result.absolute.standard_error,
        expected["welch_t"],
    )
    assert_p_value(result.absolute.p_value, expected["p_abs_welch"])
    assert_interval(
        result.absolute.ci_low,
        result.absolute.ci_high,
        expected["abs_ci95_welch"],
        expected["abs_lift"],
    )
    assert_estimate(result.relative.estimate, expected["rel_lift"])
    assert_estimate(result.relative.standard_error, expected["rel_se_delta"])
    assert_p_value(result.relative.p_value, expected["p_rel_delta_welch_t"])
    assert_interval(
        result.relative.ci_low,
        result.relative.ci_high,
        expected["rel_ci95_delta_welch_t"],
        expected["rel_lift"],
    )


def test_compare_means_agrees_with_scipy_welch() -> None:
    case = reference_case("S02")["input"]
    control, treatment = (
        SampleStats(**case["control"]),
        SampleStats(**case["treatment"]),
    )
    scipy_result = stats.ttest_ind_from_stats(
        treatment.mean,
        math.sqrt(treatment.variance),
        treatment.n,
        control.mean,
        math.sqrt(control.variance),
        control.n,
        equal_var=False,
    )
    assert _s02().absolute.p_value == pytest.approx(scipy_result.pvalue, rel=1e-9)


def test_compare_ratios_s03_reference() -> None:
    expected = reference_case("S03")["expected"]
    result = _s03()
    assert result.method == "delta_ratio"
    assert result.message is None
    assert_estimate(result.control_value, expected["ctr_control"])
    assert_estimate(result.treatment_value, expected["ctr_treatment"])
    assert_estimate(result.absolute.estimate, expected["abs_diff"])
    assert_estimate(result.absolute.standard_error, expected["abs_se"])
    assert_interval(
        result.absolute.ci_low,
        result.absolute.ci_high,
        expected["abs_ci95_z"],
        expected["abs_diff"],
    )
    assert_p_value(result.absolute.p_value, expected["p_abs_z"])
    assert_estimate(result.relative.estimate, expected["rel_lift"])
    assert_estimate(result.relative.standard_error, expected["rel_se"])
    assert_interval(
        result.relative.ci_low,
        result.relative.ci_high,
        expected["rel_ci95_z"],
        expected["rel_lift"],
    )


def test_compare_ratios_sufficient_statistics_match_per_user_table() -> None:
    """The S03 sums recomputed from its per-user table give the same result."""
    table = reference_case("S03")["input"]["per_user_table"]
    arms = []
    for name in ("control", "treatment"):
        clicks = np.asarray(table[name]["clicks"], dtype=float)
        views = np.asarray(table[name]["impressions"], dtype=float)
        arms.append(
            RatioStats(
                clicks.size,
                float(clicks.sum()),
                float((clicks**2).sum()),
                float(views.sum()),
                float((views**2).sum()),
                float((clicks * views).sum()),
            )
        )
    assert compare_ratios(arms[0], arms[1]) == _s03()


def test_compare_ratios_exceeds_impression_level_binomial_se() -> None:
    """Guards against treating impressions as independent (S03's WRONG figure)."""
    wrong = reference_case("S03")["alternatives"]["WRONG_impression_level_binomial"]
    assert _s03().absolute.standard_error < wrong["se"]
    assert _s03().absolute.p_value < wrong["p"]


def test_compare_proportions_empty_arm() -> None:
    result = compare_proportions(SampleStats(0, 0, 0), SampleStats(100, 10, 10))
    assert result.message == codes.EMPTY_ARM
    assert math.isnan(result.control_value)
    assert result.treatment_value == 0.1
    _assert_all_nan(result)


def test_compare_proportions_zero_variance() -> None:
    result = compare_proportions(SampleStats(100, 0, 0), SampleStats(120, 0, 0))
    assert result.message == codes.ZERO_VARIANCE
    _assert_all_nan(result)


def test_compare_proportions_zero_baseline() -> None:
    result = compare_proportions(SampleStats(1000, 0, 0), SampleStats(1000, 10, 10))
    assert result.message == codes.ZERO_BASELINE
    assert result.absolute.estimate == pytest.approx(0.01)
    assert 0 < result.absolute.p_value < 0.05
    _assert_all_nan(result, keep_absolute=True)


def test_compare_proportions_converters_above_n_raises() -> None:
    with pytest.raises(ValueError):
        compare_proportions(SampleStats(10, 11, 11), SampleStats(10, 1, 1))


def test_compare_means_empty_arm() -> None:
    result = compare_means(SampleStats(50, 10.0, 30.0), SampleStats(0, 0.0, 0.0))
    assert result.message == codes.EMPTY_ARM
    _assert_all_nan(result)


def test_compare_means_single_user_arm() -> None:
    result = compare_means(SampleStats(1, 3.0, 9.0), SampleStats(50, 10.0, 30.0))
    assert result.message == codes.TOO_FEW_UNITS
    _assert_all_nan(result)


def test_compare_means_zero_variance() -> None:
    result = compare_means(SampleStats(10, 20.0, 40.0), SampleStats(10, 30.0, 90.0))
    assert result.message == codes.ZERO_VARIANCE
    assert (result.control_value, result.treatment_value) == (2.0, 3.0)
    _assert_all_nan(result)


def test_compare_means_zero_variance_in_one_arm_is_defined() -> None:
    result = compare_means(SampleStats(10, 20.0, 40.0), SampleStats(10, 30.0, 100.0))
    assert result.message is None
    assert math.isfinite(result.absolute.p_value)


def test_compare_means_zero_baseline() -> None:
    result = compare_means(SampleStats(10, 0.0, 4.0), SampleStats(10, 5.0, 9.0))
    assert result.message == codes.ZERO_BASELINE
    assert math.isfinite(result.absolute.p_value)
    _assert_all_nan(result, keep_absolute=True)


def test_compare_means_negative_baseline_uses_absolute_value() -> None:
    """Relative lift is (treatment - control) / |control|: up is positive."""
    result = compare_means(SampleStats(10, -20.0, 50.0), SampleStats(10, -10.0, 20.0))
    assert result.relative.estimate == pytest.approx(0.5)


def test_compare_means_bad_alpha_raises() -> None:
    with pytest.raises(ValueError):
        compare_means(SampleStats(10, 1.0, 2.0), SampleStats(10, 1.0, 2.0), 1.5)


def test_compare_ratios_zero_denominator() -> None:
    control = RatioStats(5, 0.0, 0.0, 0.0, 0.0, 0.0)
    treatment = RatioStats(5, 2.0, 2.0, 20.0, 90.0, 9.0)
    result = compare_ratios(control, treatment)
    assert result.message == codes.ZERO_DENOMINATOR
    assert math.isnan(result.control_value)
    _assert_all_nan(result)


def test_compare_ratios_empty_arm() -> None:
    result = compare_ratios(
        RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0), RatioStats(5, 2.0, 2.0, 20.0, 90.0, 9.0)
    )
    assert result.message == codes.EMPTY_ARM
    _assert_all_nan(result)


def test_compare_ratios_zero_variance() -> None:
    # every user: 1 click of 10 impressions, in both arms
    arm = RatioStats(4, 4.0, 4.0, 40.0, 400.0, 40.0)
    result = compare_ratios(arm, arm)
    assert result.message == codes.ZERO_VARIANCE
    _assert_all_nan(result)


def test_compare_ratios_zero_baseline() -> None:
    control = RatioStats(4, 0.0, 0.0, 40.0, 416.0, 0.0)
    treatment = RatioStats(4, 4.0, 6.0, 40.0, 416.0, 42.0)
    result = compare_ratios(control, treatment)
    assert result.message == codes.ZERO_BASELINE
    assert math.isfinite(result.absolute.p_value)
    _assert_all_nan(result, keep_absolute=True)


def test_sample_stats_negative_n_raises() -> None:
    with pytest.raises(ValueError):
        SampleStats(-1, 0.0, 0.0)


def test_sample_stats_moments() -> None:
    values = np.array([1.0, 4.0, 4.0, 7.0])
    arm = SampleStats(4, float(values.sum()), float((values**2).sum()))
    assert arm.mean == pytest.approx(values.mean(), rel=1e-12)
    assert arm.variance == pytest.approx(values.var(ddof=1), rel=1e-12)
    assert SampleStats(1, 3.0, 9.0).variance == 0.0
    assert math.isnan(SampleStats(0, 0.0, 0.0).mean)
