"""The call on an experiment: ship, roll back, keep running, or flat.

Per treatment, from the primary metric and the guardrails, with every lift
read in the metric's good direction (a fall in latency counts as a gain):

- roll back when a guardrail is worse by more than its non-inferiority margin
  (the whole interval of the relative lift lies below -margin), or the primary
  metric is significantly worse;
- ship when the result is final and the primary metric improves significantly
  with no guardrail rolled back;
- otherwise keep running while the result is interim, or call it flat.

A final read uses the fixed-horizon intervals corrected for multiple testing;
an interim read uses the always-valid confidence sequences (at alpha split
over the family), which stay valid however often one looks, and never ships
(the fixed-horizon read is final only at the planned sample size and
duration). Across treatments the call is the first of ship, keep running,
roll back and flat that any treatment gets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from analysis.metrics import MetricDefinition
from analysis.readout import Readout
from analysis.significance import Effect

DecisionName = Literal["ship", "roll_back", "keep_running", "flat"]
_PRECEDENCE: tuple[DecisionName, ...] = ("ship", "keep_running", "roll_back", "flat")


@dataclass(frozen=True)
class Guardrail:
    metric: MetricDefinition
    margin: float
    """Relative worsening tolerated, e.g. 0.02."""


@dataclass(frozen=True)
class Decision:
    decision: DecisionName
    treatment: str | None
    """The variant to ship, when the decision is to ship."""
    reasons: tuple[str, ...]
    per_treatment: Mapping[str, DecisionName]


def _gain_interval(
    metric: MetricDefinition, effect: Effect
) -> tuple[float, float] | None:
    """The relative lift's interval turned so that higher is always better."""
    low, high = effect.ci_low, effect.ci_high
    if math.isnan(low) or math.isnan(high):
        return None
    if metric.higher_is_better:
        return low, high
    return -high, -low


def _effect(readout: Readout, final: bool) -> Effect:
    if final:
        return readout.corrected_relative
    sequential = readout.sequential_corrected or readout.sequential
    return sequential.relative


def _treatment_call(
    key: str,
    primary: MetricDefinition,
    readouts: Mapping[str, Readout],
    guardrails: Sequence[Guardrail],
    final: bool,
) -> tuple[DecisionName, list[str]]:
    reasons: list[str] = []
    kind = "fixed-horizon, corrected" if final else "always-valid"
    worse = []
    for guard in guardrails:
        interval = _gain_interval(
            guard.metric, _effect(readouts[guard.metric.name], final)
        )
        if interval is not None and interval[1] < -guard.margin:
            worse.append(guard)
            reasons.append(
                f"{key}: guardrail {guard.metric.label} is worse by more than its "
                f"{guard.margin:.1%} margin ({kind} interval "
                f"[{interval[0]:+.2%}, {interval[1]:+.2%}])."
            )
    gain = _gain_interval(primary, _effect(readouts[primary.name], final))
    if gain is None:
        reasons.append(f"{key}: {primary.label} cannot be compared yet.")
        return (
            "roll_back" if worse else "keep_running" if not final else "flat"
        ), reasons
    span = f"[{gain[0]:+.2%}, {gain[1]:+.2%}]"
    if gain[1] < 0:
        reasons.append(
            f"{key}: {primary.label} is significantly worse ({kind} {span})."
        )
        return "roll_back", reasons
    if worse:
        return "roll_back", reasons
    if gain[0] > 0:
        if final:
            reasons.append(
                f"{key}: {primary.label} improves significantly ({kind} {span}) "
                "and no guardrail is worse than its margin."
            )
            unproven = [
                g.metric.label
                for g in guardrails
                if (
                    i := _gain_interval(
                        g.metric, _effect(readouts[g.metric.name], True)
                    )
                )
                is None
                or i[0] <= -g.margin
            ]
            if unproven:
                reasons.append(
                    f"{key}: not yet shown within their margins: {', '.join(unproven)}."
                )
            return "ship", reasons
        reasons.append(
            f"{key}: {primary.label} already improves on the always-valid test "
            f"{span}; ship once the sample size and duration are met."
        )
        return "keep_running", reasons
    if final:
        reasons.append(
            f"{key}: no significant change in {primary.label} at the planned "
            f"sample ({kind} {span})."
        )
        return "flat", reasons
    reasons.append(f"{key}: {primary.label} not conclusive yet ({kind} {span}).")
    return "keep_running", reasons


def decide(
    primary: MetricDefinition,
    readouts: Mapping[str, Mapping[str, Readout]],
    guardrails: Sequence[Guardrail],
    *,
    final: bool,
    blocked: bool,
) -> Decision:
    """The decision and its reasons; ``readouts`` maps treatment -> metric -> read.

    A blocked result (sample-ratio mismatch) is never shipped or rolled back on
    its figures: the call is to keep running once the assignment is fixed.
    """
    if blocked:
        return Decision(
            "keep_running",
            None,
            (
                "Blocked: the users did not split as designed (sample-ratio "
                "mismatch), so no figure supports a decision until the cause is "
                "found and fixed.",
            ),
            {key: "keep_running" for key in readouts},
        )
    calls: dict[str, DecisionName] = {}
    reasons: list[str] = []
    for key, by_metric in readouts.items():
        calls[key], why = _treatment_call(key, primary, by_metric, guardrails, final)
        reasons += why
    if not calls:
        return Decision("keep_running", None, ("No treatment to compare.",), {})
    overall = next(d for d in _PRECEDENCE if d in calls.values())
    treatment = None
    if overall == "ship":
        winners = [k for k, d in calls.items() if d == "ship"]
        treatment = max(
            winners,
            key=lambda k: (
                readouts[k][primary.name].comparison.relative.estimate
                * (1 if primary.higher_is_better else -1)
            ),
        )
    return Decision(overall, treatment, tuple(reasons), calls)
