from __future__ import annotations

import math

import pytest
from scipy import stats

from analysis import codes
from analysis.srm import sample_ratio_mismatch
from tests.analysis.test_reference import (
    assert_relative,
    assert_rounded,
    reference_case,
)

S05_SPLITS = [
    "a_5050_small_gap",
    "b_5050_real_srm",
    "c_9010_borderline",
    "d_three_arms_one_empty",
    "e_rounded_weights",
]


@pytest.mark.parametrize("split", S05_SPLITS)
def test_sample_ratio_mismatch_s05_reference(split: str) -> None:
    case = reference_case("S05")
    given, expected = case["input"][split], case["expected"][split]
    result = sample_ratio_mismatch(given["observed"], given["weights"])
    assert_rounded(result.chi2, expected["chi2"], 1e-6)
    assert_relative(result.p_value, expected["p"], 1e-3)
    assert len(result.observed) == expected["df"] + 1
    assert result.mismatch is expected["flagged_at_0_001"]


def test_sample_ratio_mismatch_unnormalised_weights() -> None:
    assert sample_ratio_mismatch([9100, 900], [9, 1]) == sample_ratio_mismatch(
        [9100, 900], [0.9, 0.1]
    )


def test_sample_ratio_mismatch_agrees_with_scipy_chisquare() -> None:
    result = sample_ratio_mismatch([310, 290, 420], [1, 1, 1.5])
    expected = [1020 * 2 / 7, 1020 * 2 / 7, 1020 * 3 / 7]
    reference = stats.chisquare([310, 290, 420], expected)
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-12)


def test_sample_ratio_mismatch_empty_arm() -> None:
    result = sample_ratio_mismatch([1000, 1000, 0], [1, 1, 1])
    assert result.message == codes.EMPTY_ARM
    assert result.mismatch


def test_sample_ratio_mismatch_no_units() -> None:
    result = sample_ratio_mismatch([0, 0], [0.5, 0.5])
    assert result.message == codes.NO_UNITS
    assert math.isnan(result.chi2)
    assert math.isnan(result.p_value)
    assert not result.mismatch


def test_sample_ratio_mismatch_threshold() -> None:
    assert not sample_ratio_mismatch([5200, 4800], [1, 1], threshold=1e-5).mismatch


@pytest.mark.parametrize(
    ("observed", "weights"),
    [([10, 10], [1.0]), ([10], [1.0]), ([10, -1], [1, 1]), ([10, 10], [1, 0])],
)
def test_sample_ratio_mismatch_bad_arguments_raise(
    observed: list[int], weights: list[float]
) -> None:
    with pytest.raises(ValueError):
        sample_ratio_mismatch(observed, weights)
