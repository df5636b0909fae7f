"""Loader and tolerance rules for the shared reference cases (stats-cases.json).

The other analysis tests import ``reference_case`` and the ``assert_*`` helpers
from here. The tolerances in the file are prose; the helpers implement them, and
a test below fails if the file's wording changes so the helpers need review.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REFERENCE_FILE = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "stats-cases.json"
)

ESTIMATES = "relative 1e-4"
P_VALUES = "relative 1e-3 (absolute 1e-6 when p < 1e-3)"
CI_BOUNDS = "absolute 1e-4 x |estimate| or 1e-6, whichever is larger"


@cache
def _cases() -> dict[str, dict[str, Any]]:
    with REFERENCE_FILE.open(encoding="utf-8") as f:
        data = json.load(f)
    return {case["id"]: case for case in data["cases"]}


def reference_case(case_id: str) -> dict[str, Any]:
    """One case of the reference file; skips the test when the file is absent."""
    if not REFERENCE_FILE.exists():
        pytest.skip(f"reference file not found at {REFERENCE_FILE}")
    return _cases()[case_id]


def assert_relative(actual: float, expected: float, tolerance: float) -> None:
    """|actual - expected| <= tolerance * |expected|."""
    assert math.isfinite(actual), actual
    assert abs(actual - expected) <= tolerance * abs(expected), (actual, expected)


def assert_rounded(actual: float, expected: float, tolerance: float) -> None:
    """Relative tolerance, but never tighter than the file's 6-digit rounding.

    The file rounds to 6 significant digits, so 11.1111 stands for 11.11111...;
    a relative 1e-6 cannot hold against it, half a unit in the 6th digit can.
    """
    rounding = 0.5 * 10 ** (math.floor(math.log10(abs(expected))) - 5)
    bound = max(tolerance * abs(expected), rounding)
    assert abs(actual - expected) <= bound, (actual, expected)


def assert_estimate(actual: float, expected: float) -> None:
    """Rule "relative 1e-4" for estimates and standard errors."""
    assert_relative(actual, expected, 1e-4)


def assert_p_value(actual: float, expected: float) -> None:
    """Rule "relative 1e-3 (absolute 1e-6 when p < 1e-3)"."""
    if expected < 1e-3:
        assert abs(actual - expected) <= 1e-6, (actual, expected)
    else:
        assert_relative(actual, expected, 1e-3)


def assert_interval(
    low: float, high: float, expected: list[float], estimate: float
) -> None:
    """Rule "absolute 1e-4 x |estimate| or 1e-6, whichever is larger"."""
    tolerance = max(1e-4 * abs(estimate), 1e-6)
    assert abs(low - expected[0]) <= tolerance, (low, expected[0])
    assert abs(high - expected[1]) <= tolerance, (high, expected[1])


def test_reference_file_has_every_case() -> None:
    ids = {reference_case(f"S0{i}")["id"] for i in range(1, 10)}
    assert ids == {f"S0{i}" for i in range(1, 10)}


def test_reference_tolerances_match_the_implemented_rules() -> None:
    """Guards against the file changing a tolerance the helpers do not follow."""
    for case_id in ("S01", "S02", "S03", "S07"):
        tolerance = reference_case(case_id)["tolerance"]
        assert tolerance == {
            "estimates": ESTIMATES,
            "p_values": P_VALUES,
            "ci_bounds": CI_BOUNDS,
        }
    assert reference_case("S04")["tolerance"]["absolute"] == ESTIMATES
    assert reference_case("S05")["tolerance"] == {
        "chi2": "relative 1e-6",
        "p": "relative 1e-3",
    }
    assert reference_case("S08")["tolerance"] == {"ctw": "absolute 1e-4"}
    assert reference_case("S09")["tolerance"] == {"p_adj": "absolute 1e-12"}


def test_reference_helpers_reject_a_miss() -> None:
    with pytest.raises(AssertionError):
        assert_estimate(1.001, 1.0)
    with pytest.raises(AssertionError):
        assert_p_value(0.0005, 0.0004)
    assert_p_value(0.0004005, 0.0004)
    assert_rounded(11.111111, 11.1111, 1e-6)
    with pytest.raises(AssertionError):
        assert_rounded(11.11116, 11.1111, 1e-6)
