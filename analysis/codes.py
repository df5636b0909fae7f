"""Codes for data trouble that leaves an analysis figure undefined.

A result record carries one of these constants in its ``message`` field instead of
raising; ``EXPLANATIONS`` holds the sentence a report shows beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

EMPTY_ARM: Final = "empty_arm"
TOO_FEW_UNITS: Final = "too_few_units"
NO_UNITS: Final = "no_units"
ZERO_VARIANCE: Final = "zero_variance"
ZERO_BASELINE: Final = "zero_baseline"
ZERO_DENOMINATOR: Final = "zero_denominator"
ZERO_COVARIATE_VARIANCE: Final = "zero_covariate_variance"
UNDEFINED_INPUT: Final = "undefined_input"
NOT_DETECTABLE: Final = "not_detectable"

EXPLANATIONS: Final[Mapping[str, str]] = {
    EMPTY_ARM: "An arm has no users, so nothing can be compared with it.",
    TOO_FEW_UNITS: "An arm has fewer than two users, so its variance is unknown.",
    NO_UNITS: "No users were counted in any arm.",
    ZERO_VARIANCE: "The metric does not vary in either arm, so no test is possible.",
    ZERO_BASELINE: "The control value is zero, so a relative lift is undefined.",
    ZERO_DENOMINATOR: "A ratio's denominator sums to zero in an arm (e.g. no views).",
    ZERO_COVARIATE_VARIANCE: (
        "The pre-exposure covariate is constant, so CUPED cannot adjust; "
        "the figures are the unadjusted ones."
    ),
    UNDEFINED_INPUT: "The input figures were already undefined (NaN).",
    NOT_DETECTABLE: (
        "No effect within the metric's range reaches the requested power "
        "with these users."
    ),
}


def explain(code: str) -> str:
    """The human sentence for a message code."""
    return EXPLANATIONS[code]
