from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from analysis import codes
from analysis.cuped import CovariateStats, CupedComparison, compare_means_cuped
from tests.analysis.test_reference import assert_estimate, reference_case


def _arm(stats: dict[str, Any]) -> CovariateStats:
    return CovariateStats(
        n=stats["n"],
        sum=stats["post_sum"],
        sum_squares=stats["post_sum_squares"],
        pre_sum=stats["pre_sum"],
        pre_sum_squares=stats["pre_sum_squares"],
        cross_sum=stats["post_pre_sum_of_products"],
    )


def _from_values(pre: Any, post: Any) -> CovariateStats:
    x, y = np.asarray(pre, dtype=float), np.asarray(post, dtype=float)
    return CovariateStats(
        x.size,
        float(y.sum()),
        float((y**2).sum()),
        float(x.sum()),
        float((x**2).sum()),
        float((x * y).sum()),
    )


def _s04() -> CupedComparison:
    given = reference_case("S04")["input"]["sufficient_statistics"]
    return compare_means_cuped(_arm(given["control"]), _arm(given["treatment"]))


def test_compare_means_cuped_s04_reference() -> None:
    """S04's tolerance: relative 1e-4 for every figure but the relative SE."""
    expected = reference_case("S04")["expected"]
    result = _s04()
    adjusted, unadjusted = result.adjusted, result.unadjusted
    assert result.message is None
    assert adjusted.method == "cuped_welch"
    assert_estimate(result.theta, expected["theta_pooled_both_arms"])
    assert_estimate(unadjusted.absolute.estimate, expected["unadjusted_abs_diff"])
    assert_estimate(unadjusted.absolute.standard_error, expected["unadjusted_se"])
    assert_estimate(unadjusted.absolute.p_value, expected["p_unadjusted_welch"])
    assert_estimate(adjusted.absolute.estimate, expected["cuped_abs_effect"])
    assert_estimate(adjusted.absolute.standard_error, expected["cuped_se"])
    assert_estimate(result.dof, expected["cuped_welch_dof"])
    assert_estimate(adjusted.absolute.ci_low, expected["cuped_ci95_welch_t"][0])
    assert_estimate(adjusted.absolute.ci_high, expected["cuped_ci95_welch_t"][1])
    assert_estimate(adjusted.absolute.p_value, expected["p_cuped_welch_t"])
    assert_estimate(result.variance_reduction, expected["variance_reduction"])
    assert_estimate(result.correlation, expected["pooled_corr_pre_post"])
    assert_estimate(adjusted.relative.estimate, expected["cuped_rel_lift"])
    rel_se = adjusted.relative.standard_error
    assert rel_se == pytest.approx(expected["cuped_rel_se_exact_delta"], rel=0.02)


def test_compare_means_cuped_sums_match_per_user_table() -> None:
    table = reference_case("S04")["input"]["per_user_table"]
    arms = [_from_values(table[k]["pre"], table[k]["post"]) for k in table]
    result = compare_means_cuped(arms[0], arms[1])
    assert result.adjusted.absolute.estimate == pytest.approx(
        _s04().adjusted.absolute.estimate, rel=1e-9
    )


def test_compare_means_cuped_values_are_consistent() -> None:
    adjusted = _s04().adjusted
    lift = adjusted.treatment_value - adjusted.control_value
    assert lift == pytest.approx(adjusted.absolute.estimate, rel=1e-12)
    assert lift / adjusted.control_value == pytest.approx(adjusted.relative.estimate)


def test_compare_means_cuped_relative_se_matches_simulation() -> None:
    """The delta-method SE of the relative lift against a parametric bootstrap."""
    rng = np.random.default_rng(3)
    n = 4000
    cov = [[4.0, 3.0], [3.0, 4.0]]
    control_draw = rng.multivariate_normal([10.0, 10.0], cov, n)
    treatment_draw = rng.multivariate_normal([10.0, 11.0], cov, n)
    control = _from_values(control_draw[:, 0], control_draw[:, 1])
    treatment = _from_values(treatment_draw[:, 0], treatment_draw[:, 1])
    se = compare_means_cuped(control, treatment).adjusted.relative.standard_error
    lifts = []
    for _ in range(300):
        c = rng.multivariate_normal([10.0, 10.0], cov, n)
        t = rng.multivariate_normal([10.0, 11.0], cov, n)
        result = compare_means_cuped(
            _from_values(c[:, 0], c[:, 1]), _from_values(t[:, 0], t[:, 1])
        )
        lifts.append(result.adjusted.relative.estimate)
    assert se == pytest.approx(float(np.std(lifts, ddof=1)), rel=0.15)


def test_compare_means_cuped_constant_covariate_falls_back() -> None:
    control = CovariateStats(3, 6.0, 14.0, 3.0, 3.0, 6.0)
    treatment = CovariateStats(3, 9.0, 29.0, 3.0, 3.0, 9.0)
    result = compare_means_cuped(control, treatment)
    assert result.message == codes.ZERO_COVARIATE_VARIANCE
    assert result.theta == 0.0
    assert result.adjusted.absolute == result.unadjusted.absolute
    assert result.variance_reduction == pytest.approx(0.0, abs=1e-12)


def test_compare_means_cuped_empty_arm() -> None:
    control = CovariateStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    treatment = CovariateStats(3, 9.0, 29.0, 3.0, 5.0, 9.0)
    result = compare_means_cuped(control, treatment)
    assert result.message == codes.EMPTY_ARM
    assert result.adjusted.message == codes.EMPTY_ARM
    assert math.isnan(result.adjusted.absolute.p_value)
    assert math.isnan(result.variance_reduction)


def test_compare_means_cuped_zero_variance() -> None:
    # post = 2 * pre exactly in both arms: the adjusted metric is constant
    control = _from_values([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    treatment = _from_values([1.0, 2.0, 4.0], [2.0, 4.0, 8.0])
    result = compare_means_cuped(control, treatment)
    assert result.theta == pytest.approx(2.0)
    assert result.message == codes.ZERO_VARIANCE
    assert math.isnan(result.adjusted.absolute.standard_error)


def test_compare_means_cuped_zero_baseline() -> None:
    control = _from_values([1.0, -1.0, 2.0, -2.0], [1.0, -1.0, 1.0, -1.0])
    treatment = _from_values([1.0, 0.0, 2.0, -2.0], [2.0, 0.0, 1.0, 1.0])
    result = compare_means_cuped(control, treatment)
    assert result.message == codes.ZERO_BASELINE
    assert math.isfinite(result.adjusted.absolute.p_value)
    assert math.isnan(result.adjusted.relative.estimate)
