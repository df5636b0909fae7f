"""The ``power`` command against S06 and statsmodels."""

from __future__ import annotations

import math
import re

import pytest
from click.testing import CliRunner
from statsmodels.stats.power import NormalIndPower

from analysis.cli import power
from tests.analysis.test_reference import reference_case


def _run(*args: str) -> str:
    result = CliRunner().invoke(power, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _users(output: str, arm: str) -> int:
    match = re.search(rf"{arm}:\s+([\d,]+) users", output)
    assert match, output
    return int(match.group(1).replace(",", ""))


def test_power_command_s06_equal_and_90_10() -> None:
    expected = reference_case("S06")["expected"]
    out = _run("--baseline", "0.1", "--mde", "0.05")
    assert _users(out, "control") == expected["n_per_arm_pooled_null_normal"]
    assert _users(out, "treatment") == expected["n_per_arm_pooled_null_normal"]
    out = _run("--baseline", "0.1", "--mde", "0.05", "--allocation", "90/10")
    unequal = expected["unequal_90_10"]
    assert _users(out, "control") == unequal["n_control"]
    assert _users(out, "treatment") == unequal["n_treatment"]


@pytest.mark.parametrize("allocation,share", [("50/50", 0.5), ("0.2", 0.2)])
def test_power_command_means_agree_with_statsmodels(
    allocation: str, share: float
) -> None:
    out = _run(
        "--metric", "mean", "--baseline", "10", "--sd", "25", "--mde", "0.5",
        "--scale", "absolute", "--allocation", allocation,
    )  # fmt: skip
    # statsmodels: nobs1 is the treatment arm, the control has ratio * nobs1.
    nobs1 = NormalIndPower().solve_power(
        effect_size=0.5 / 25, alpha=0.05, power=0.8, ratio=(1 - share) / share
    )
    assert _users(out, "treatment") == math.ceil(nobs1)


def test_power_command_mde_for_given_users() -> None:
    out = _run("--baseline", "0.1", "--n", str(2 * 57763))
    relative = float(re.search(r"([+-][\d.]+)% relative", out).group(1))  # type: ignore[union-attr]
    assert relative == pytest.approx(5.0, abs=0.01)
    out = _run("--metric", "mean", "--baseline", "10", "--sd", "25", "--n", "20000")
    absolute = float(re.search(r"effect: ([+-][\d.e-]+) absolute", out).group(1))  # type: ignore[union-attr]
    effect_size = NormalIndPower().solve_power(
        nobs1=10000, alpha=0.05, power=0.8, ratio=1.0
    )
    assert absolute == pytest.approx(effect_size * 25, rel=1e-4)


@pytest.mark.parametrize(
    "args",
    [
        ["--baseline", "0.1"],
        ["--baseline", "0.1", "--mde", "0.05", "--n", "100"],
        ["--metric", "mean", "--baseline", "1", "--mde", "0.1"],
        ["--baseline", "0.1", "--mde", "0.05", "--allocation", "1/0"],
        ["--baseline", "1.5", "--mde", "0.05"],
    ],
)
def test_power_command_refuses_bad_input(args: list[str]) -> None:
    result = CliRunner().invoke(power, args)
    assert result.exit_code == 2, result.output
