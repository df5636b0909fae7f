from __future__ import annotations

import math
from typing import Any

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from analysis import codes
from analysis.power import (
    PowerSettings,
    SampleSize,
    mde_mean,
    mde_proportion,
    power_mean,
    power_proportion,
    sample_size_mean,
    sample_size_proportion,
)
from tests.analysis.test_reference import reference_case


def _assert_users(actual: int, expected: int) -> None:
    """S06's tolerance: +-1 user after ceiling for a given formula."""
    assert abs(actual - expected) <= 1, (actual, expected)


def _s06() -> dict[str, Any]:
    return reference_case("S06")


def _main_size(method: Any) -> SampleSize:
    main = _s06()["input"]["main"]
    return sample_size_proportion(
        main["baseline"],
        main["relative_mde"],
        settings=PowerSettings(main["alpha"], main["power"]),
        method=method,
    )


def test_sample_size_proportion_s06_pooled_null_default() -> None:
    expected = _s06()["expected"]["n_per_arm_pooled_null_normal"]
    size = sample_size_proportion(0.1, 0.05)
    assert size == _main_size("pooled_null")
    _assert_users(size.n_control, expected)
    _assert_users(size.n_treatment, expected)


@pytest.mark.parametrize(
    ("method", "key"),
    [
        ("unpooled", "n_per_arm_unpooled_normal"),
        ("cohens_h", "n_per_arm_cohens_h"),
        ("relative_delta", "n_per_arm_relative_delta_growthbook_style"),
    ],
)
def test_sample_size_proportion_s06_other_conventions(method: str, key: str) -> None:
    expected = _s06()["expected"][key]
    size = _main_size(method)
    _assert_users(size.n_control, expected)
    _assert_users(size.n_treatment, expected)


def test_sample_size_proportion_s06_unequal_90_10() -> None:
    case = _s06()
    given, expected = case["input"]["unequal"], case["expected"]["unequal_90_10"]
    settings = PowerSettings(given["alpha"], given["power"])
    size = sample_size_proportion(
        given["baseline"],
        given["relative_mde"],
        share_treatment=given["share_treatment"],
        settings=settings,
    )
    _assert_users(size.n_treatment, expected["n_treatment"])
    _assert_users(size.n_control, expected["n_control"])
    _assert_users(size.n_total, expected["n_total_pooled_null"])
    unpooled = sample_size_proportion(
        given["baseline"],
        given["relative_mde"],
        share_treatment=given["share_treatment"],
        settings=settings,
        method="unpooled",
    )
    assert abs(unpooled.n_total - expected["n_total_unpooled"]) <= 2


@pytest.mark.parametrize("share", [0.5, 0.1, 0.7])
def test_sample_size_proportion_agrees_with_statsmodels(share: float) -> None:
    # statsmodels: nobs1 is the treatment arm, nobs2 = ratio * nobs1
    raw = samplesize_proportions_2indep_onetail(
        0.005, 0.1, 0.8, ratio=(1 - share) / share, alpha=0.05, alternative="two-sided"
    )
    size = sample_size_proportion(0.1, 0.005, "absolute", share_treatment=share)
    _assert_users(size.n_treatment, math.ceil(raw))


@pytest.mark.parametrize("share", [0.5, 0.1, 0.7])
def test_sample_size_proportion_cohens_h_agrees_with_normal_ind_power(
    share: float,
) -> None:
    h = proportion_effectsize(0.105, 0.1)
    n_control = NormalIndPower().solve_power(
        h, alpha=0.05, power=0.8, ratio=share / (1 - share)
    )
    size = sample_size_proportion(0.1, 0.05, share_treatment=share, method="cohens_h")
    _assert_users(size.n_control, math.ceil(n_control))


@pytest.mark.parametrize("share", [0.5, 0.1, 0.8])
def test_sample_size_mean_agrees_with_normal_ind_power(share: float) -> None:
    mean, sd, mde = 0.41, 3.9, 0.1
    n_control = NormalIndPower().solve_power(
        mde * mean / sd, alpha=0.05, power=0.8, ratio=share / (1 - share)
    )
    size = sample_size_mean(mean, sd, mde, share_treatment=share)
    # statsmodels also counts the far rejection tail (~1e-6 of power here), which
    # the closed form leaves out, so it may need up to 2 users fewer.
    assert 0 <= size.n_control - math.ceil(n_control) <= 2


def test_power_mean_agrees_with_normal_ind_power() -> None:
    power = power_mean(10.0, 40.0, 2.0, 3000, 1500, scale="absolute")
    expected = NormalIndPower().power(2.0 / 40.0, 3000, 0.05, ratio=0.5)
    assert power == pytest.approx(expected, rel=1e-9)


def test_power_mean_s06_growthbook_fixture() -> None:
    fixture = _s06()["input"]["growthbook_fixture"]
    expected = _s06()["expected"]["growthbook_fixture"]
    n_arm = fixture["n_total"] / fixture["n_variations"]
    sd = math.sqrt(fixture["variance"])
    power = power_mean(
        fixture["mean"],
        sd,
        fixture["effect"],
        n_arm,
        n_arm,
        alpha=fixture["alpha"],
        method="relative_delta",
    )
    assert power == pytest.approx(expected["power"], rel=1e-5)
    found = mde_mean(fixture["mean"], sd, n_arm, n_arm, method="relative_delta")
    assert found.relative == pytest.approx(expected["mde_at_80"], rel=1e-5)


def test_sample_size_round_trips_through_power() -> None:
    size = sample_size_proportion(0.1, 0.05, share_treatment=0.1)
    power = power_proportion(0.1, 0.05, size.n_control, size.n_treatment)
    assert 0.8 <= power < 0.8001


def test_mde_proportion_inverts_sample_size() -> None:
    size = sample_size_proportion(0.1, 0.05)
    found = mde_proportion(0.1, size.n_control, size.n_treatment)
    assert found.message is None
    assert found.relative == pytest.approx(0.05, rel=1e-4)
    assert found.absolute == pytest.approx(0.005, rel=1e-4)


def test_mde_mean_inverts_sample_size() -> None:
    size = sample_size_mean(20.0, 35.0, 2.0, scale="absolute", share_treatment=0.3)
    found = mde_mean(20.0, 35.0, size.n_control, size.n_treatment)
    assert found.absolute == pytest.approx(2.0, rel=1e-4)
    assert found.relative == pytest.approx(0.1, rel=1e-4)


def test_mde_proportion_not_detectable() -> None:
    found = mde_proportion(0.5, 3, 3)
    assert found.message == codes.NOT_DETECTABLE
    assert math.isnan(found.absolute)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sample_size_proportion(0.0, 0.05),
        lambda: sample_size_proportion(0.1, 0.0),
        lambda: sample_size_proportion(0.9, 0.5),
        lambda: sample_size_proportion(0.1, 0.05, share_treatment=1.0),
        lambda: sample_size_mean(1.0, 0.0, 0.05),
        lambda: sample_size_mean(0.0, 1.0, 0.05),
        lambda: PowerSettings(power=1.0),
        lambda: power_mean(1.0, 1.0, 0.1, 0, 10),
    ],
)
def test_power_bad_arguments_raise(call: Any) -> None:
    with pytest.raises(ValueError):
        call()
