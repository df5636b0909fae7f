"""Every read of one treatment against control on one metric.

The fixed-horizon comparison (CUPED-adjusted when the metric has pre-exposure
data), the unadjusted one beside it, the always-valid (sequential) versions,
the chance to beat control, and, once the family is known, the effects
corrected for multiple testing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from analysis import codes
from analysis.bayesian import ChanceToWin, chance_to_beat_control
from analysis.corrections import correct_effects
from analysis.cuped import CupedComparison, compare_means_cuped, compare_ratios_cuped
from analysis.metrics import Covariate, MetricDefinition, Stats
from analysis.sequential import (
    SequentialComparison,
    SequentialSettings,
    always_valid,
)
from analysis.settings import AnalysisSettings
from analysis.significance import (
    Comparison,
    Effect,
    compare_means,
    compare_proportions,
    compare_ratios,
)
from analysis.sufficient import (
    CovariateStats,
    RatioCovariateStats,
    RatioStats,
    SampleStats,
)


@dataclass(frozen=True)
class CupedSummary:
    applied: bool
    variance_reduction: float
    """1 - (adjusted SE / unadjusted SE)^2 of the absolute effect; 0 if not applied."""
    theta: float
    correlation: float
    message: str | None = None


@dataclass(frozen=True)
class Readout:
    comparison: Comparison
    """The fixed-horizon read: CUPED-adjusted when applied."""
    unadjusted: Comparison
    cuped: CupedSummary | None
    """None when the metric has no pre-exposure value or CUPED is off."""
    sequential: SequentialComparison
    chance: ChanceToWin
    chance_better: float
    """Posterior chance that treatment is better, in the metric's direction."""
    corrected_absolute: Effect
    corrected_relative: Effect
    in_family: bool = False
    sequential_corrected: SequentialComparison | None = None
    """The always-valid reads at alpha split evenly over the family
    (Bonferroni), for interim decisions; None outside a corrected family."""

    @property
    def p_value(self) -> float:
        return self.comparison.absolute.p_value

    @property
    def p_value_adjusted(self) -> float:
        return self.corrected_absolute.p_value


def compare(
    metric: MetricDefinition, control: Stats, treatment: Stats, alpha: float
) -> Comparison:
    """The fixed-horizon test that suits the metric's kind."""
    if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
        return compare_ratios(control, treatment, alpha=alpha)
    assert isinstance(control, SampleStats) and isinstance(treatment, SampleStats)
    if metric.kind == "proportion":
        return compare_proportions(control, treatment, alpha=alpha)
    return compare_means(control, treatment, alpha=alpha)


def _cuped(
    control: Covariate, treatment: Covariate, alpha: float
) -> CupedComparison | None:
    if isinstance(control, RatioCovariateStats) and isinstance(
        treatment, RatioCovariateStats
    ):
        return compare_ratios_cuped(control, treatment, alpha)
    if isinstance(control, CovariateStats) and isinstance(treatment, CovariateStats):
        return compare_means_cuped(control, treatment, alpha)
    return None  # pragma: no cover - the counts pair covariates by kind


def read(
    metric: MetricDefinition,
    control: Stats,
    treatment: Stats,
    *,
    settings: AnalysisSettings,
    tuning: int,
    control_covariate: Covariate | None = None,
    treatment_covariate: Covariate | None = None,
) -> Readout:
    """All reads of one comparison, before any multiple-testing correction."""
    unadjusted = compare(metric, control, treatment, settings.alpha)
    comparison, summary = unadjusted, None
    if (
        settings.cuped
        and metric.has_pre_period
        and control_covariate is not None
        and treatment_covariate is not None
    ):
        cuped = _cuped(control_covariate, treatment_covariate, settings.alpha)
        if cuped is not None:
            applied = cuped.message not in (
                codes.ZERO_COVARIATE_VARIANCE,
                codes.EMPTY_ARM,
                codes.TOO_FEW_UNITS,
                codes.ZERO_DENOMINATOR,
                codes.ZERO_VARIANCE,
            )
            if applied:
                comparison = cuped.adjusted
            summary = CupedSummary(
                applied,
                cuped.variance_reduction if applied else 0.0,
                cuped.theta,
                cuped.correlation,
                None if applied else cuped.message,
            )
    sequential = always_valid(
        comparison,
        control.n + treatment.n,
        SequentialSettings(tuning=float(max(tuning, 2)), alpha=settings.alpha),
    )
    chance = chance_to_beat_control(comparison, settings.alpha)
    better = chance.absolute if metric.higher_is_better else 1.0 - chance.absolute
    return Readout(
        comparison,
        unadjusted,
        summary,
        sequential,
        chance,
        better,
        comparison.absolute,
        comparison.relative,
    )


def correct(
    readouts: Sequence[Readout],
    in_family: Sequence[bool],
    settings: AnalysisSettings,
    tuning: int = 5000,
) -> list[Readout]:
    """The readouts with the family's effects corrected for multiple testing.

    Absolute and relative effects are corrected as two parallel families of
    the same comparisons; readouts outside the family keep their own figures.
    The always-valid reads get alpha / (family size), since Holm and BH have
    no simple counterpart for confidence sequences.
    """
    members = [r for r, member in zip(readouts, in_family, strict=True) if member]
    if settings.correction == "none" or not members:
        return [
            replace(r, in_family=m) for r, m in zip(readouts, in_family, strict=True)
        ]
    absolute = iter(
        correct_effects(
            [r.comparison.absolute for r in members],
            settings.correction,
            settings.alpha,
        )
    )
    relative = iter(
        correct_effects(
            [r.comparison.relative for r in members],
            settings.correction,
            settings.alpha,
        )
    )
    split = SequentialSettings(
        tuning=float(max(tuning, 2)), alpha=settings.alpha / len(members)
    )
    out = []
    for readout, member in zip(readouts, in_family, strict=True):
        if member:
            readout = replace(
                readout,
                corrected_absolute=next(absolute),
                corrected_relative=next(relative),
                in_family=True,
                sequential_corrected=always_valid(
                    readout.comparison, readout.sequential.n_total, split
                ),
            )
        out.append(readout)
    return out


def significant(effect: Effect, alpha: float) -> bool:
    return math.isfinite(effect.p_value) and effect.p_value < alpha
