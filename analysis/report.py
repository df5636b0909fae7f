"""The result report of one experiment: progress, sample-ratio check, per
metric the value of each variant and each treatment's lift over control (with
CUPED, sequential, corrected and Bayesian reads), segments and the decision."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import FromClause
from sqlalchemy.orm import Session

from analysis.decision import Decision, Guardrail, decide
from analysis.export import report_to_dict
from analysis.metrics import (
    METRICS,
    Covariate,
    ExperimentCounts,
    MetricDefinition,
    VariantCounts,
    collect_counts,
    merge_counts,
    metric_percentile,
)
from analysis.progress import Progress
from analysis.readout import Readout, compare, correct, read
from analysis.settings import AnalysisSettings
from analysis.significance import Comparison
from analysis.srm import SampleRatioCheck, sample_ratio_mismatch
from analysis.sufficient import RatioStats, SampleStats
from analysis.user_values import current_values
from experimentation.errors import InvalidInput
from experimentation.experiments import get_experiment
from experimentation.models import Experiment

log = logging.getLogger(__name__)

__all__ = ["Report", "build_report", "report_to_dict"]

ALPHA = 0.05
EXCLUDED_WARNING_SHARE = 0.01


@dataclass(frozen=True)
class VariantValue:
    key: str
    name: str
    n: int
    value: float


@dataclass(frozen=True)
class MetricResult:
    metric: MetricDefinition
    values: list[VariantValue]
    comparisons: dict[str, Comparison]
    """Keyed by treatment variant; each against the first variant (control).
    CUPED-adjusted when the metric has pre-exposure data."""
    readouts: dict[str, Readout] = field(default_factory=dict)
    """Every read of each comparison: unadjusted, sequential, corrected, Bayesian."""


@dataclass(frozen=True)
class SegmentResult:
    """One value of a user attribute (e.g. gender F): unadjusted, uncorrected
    comparisons, for exploring rather than deciding."""

    dimension: str
    value: str
    users: int
    metrics: list[MetricResult]


@dataclass(frozen=True)
class Report:
    experiment: str
    name: str
    status: str
    control: str
    progress: Progress
    srm: SampleRatioCheck
    excluded_users: int
    metrics: list[MetricResult]
    window_end: datetime
    warnings: list[str] = field(default_factory=list)
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    decision: Decision | None = None
    segments: list[SegmentResult] = field(default_factory=list)
    caps: dict[str, float] = field(default_factory=dict)
    """Winsorisation: the value each cappable metric was capped at."""
    primary_metric: str | None = None
    guardrails: list[Guardrail] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.progress.is_final and not self.srm.mismatch

    @property
    def label(self) -> str:
        if self.srm.mismatch:
            return "blocked"
        return "final" if self.final else "interim"


def build_report(
    session: Session,
    *,
    key: str,
    now: datetime,
    settings: AnalysisSettings | None = None,
    stored_values: bool = True,
) -> Report:
    """The experiment's report at `now` (or at its stop).

    With `stored_values` the per-user values are read from, and first brought
    up to date in, the experiment's stored values (analysis/user_values.py;
    commit the session to keep them); without, every event is read.
    """
    started = time.perf_counter()
    settings = settings or AnalysisSettings()
    experiment = get_experiment(session, key=key)
    window_end = experiment.stopped_at or now
    lookback = timedelta(days=settings.cuped_lookback_days)
    pre_start = (experiment.started_at or window_end) - lookback
    stored = (
        current_values(
            session, experiment=experiment, window_end=window_end, pre_start=pre_start
        )
        if stored_values
        else None
    )
    caps = _caps(session, experiment, window_end, pre_start, settings, stored)
    counts = collect_counts(
        session,
        experiment_id=experiment.id,
        window_end=window_end,
        pre_start=pre_start,
        caps=caps,
        segments=settings.segments,
        stored=stored,
    )
    variants = experiment.variants
    users = [
        counts.variants[v.id].users if v.id in counts.variants else 0 for v in variants
    ]
    srm = sample_ratio_mismatch(
        users, [v.weight for v in variants], threshold=settings.srm_threshold
    )
    progress = _progress(experiment, users=sum(users), window_end=window_end)
    metrics = _metric_results(experiment, counts.variants, settings)
    primary, guardrails = _roles(experiment, settings)
    final = progress.is_final and not srm.mismatch
    decision = decide(
        METRICS[primary],
        {
            v.key: {m.metric.name: m.readouts[v.key] for m in metrics}
            for v in variants[1:]
        },
        guardrails,
        final=final,
        blocked=srm.mismatch,
    )
    report = Report(
        experiment=experiment.key,
        name=experiment.name,
        status=experiment.status,
        control=variants[0].key,
        progress=progress,
        srm=srm,
        excluded_users=counts.excluded_users,
        metrics=metrics,
        window_end=window_end,
        warnings=_warnings(srm, counts.excluded_users, sum(users), progress, caps),
        settings=settings,
        decision=decision,
        segments=segment_results(experiment, counts, settings),
        caps=caps,
        primary_metric=primary,
        guardrails=list(guardrails),
    )
    log.info(
        "report built",
        extra={
            "experiment": key,
            "users": sum(users),
            "decision": decision.decision,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return report


def _caps(
    session: Session,
    experiment: Experiment,
    window_end: datetime,
    pre_start: datetime,
    settings: AnalysisSettings,
    stored: FromClause | None,
) -> dict[str, float]:
    """Winsorisation caps of the experiment's cappable metrics, pooled over arms."""
    if settings.winsorize_percentile is None:
        return {}
    caps = {}
    for name in experiment.metrics:
        if not METRICS[name].cappable:
            continue
        cap = metric_percentile(
            session,
            experiment_id=experiment.id,
            window_end=window_end,
            metric=name,
            quantile=settings.winsorize_percentile,
            pre_start=pre_start,
            stored=stored,
        )
        if cap is not None:
            caps[name] = cap
    return caps


def _roles(
    experiment: Experiment, settings: AnalysisSettings
) -> tuple[str, list[Guardrail]]:
    primary = settings.primary_metric or experiment.metrics[0]
    if primary not in experiment.metrics:
        raise InvalidInput(
            f"primary metric {primary!r} is not among the experiment's metrics"
        )
    names = settings.guardrails
    if names is None:
        names = tuple(m for m in experiment.metrics if m != primary)
    guardrails = [
        Guardrail(METRICS[name], settings.margin(name))
        for name in names
        if name in experiment.metrics and name != primary
    ]
    return primary, guardrails


def _progress(experiment: Experiment, *, users: int, window_end: datetime) -> Progress:
    elapsed = 0.0
    if experiment.started_at is not None:
        elapsed = max(0.0, (window_end - experiment.started_at).total_seconds())
    return Progress(
        users=users,
        sample_size=experiment.sample_size,
        elapsed_seconds=elapsed,
        minimum_seconds=experiment.minimum_duration_seconds,
        started=experiment.started_at is not None,
    )


def _metric_results(
    experiment: Experiment,
    counts: Mapping[int, VariantCounts],
    settings: AnalysisSettings,
) -> list[MetricResult]:
    """Every metric's reads, corrected for multiple testing across the family."""
    control, treatments = experiment.variants[0], experiment.variants[1:]
    family = set(settings.family or experiment.metrics)
    tuning = settings.sequential_tuning or experiment.sample_size
    pairs = []
    for name in experiment.metrics:
        metric = METRICS[name]
        for variant in treatments:
            pairs.append(
                (
                    metric,
                    variant,
                    read(
                        metric,
                        _stats_of(metric, counts.get(control.id)),
                        _stats_of(metric, counts.get(variant.id)),
                        settings=settings,
                        tuning=tuning,
                        control_covariate=_covariate_of(metric, counts.get(control.id)),
                        treatment_covariate=_covariate_of(
                            metric, counts.get(variant.id)
                        ),
                    ),
                )
            )
    corrected = correct(
        [r for _, _, r in pairs],
        [m.name in family for m, _, _ in pairs],
        settings,
        tuning,
    )
    results = []
    for name in experiment.metrics:
        metric = METRICS[name]
        readouts = {
            v.key: r
            for (m, v, _), r in zip(pairs, corrected, strict=True)
            if m.name == name
        }
        results.append(
            MetricResult(
                metric=metric,
                values=_values(metric, experiment, counts),
                comparisons={k: r.comparison for k, r in readouts.items()},
                readouts=readouts,
            )
        )
    return results


def _values(
    metric: MetricDefinition,
    experiment: Experiment,
    counts: Mapping[int, VariantCounts],
) -> list[VariantValue]:
    stats = [_stats_of(metric, counts.get(v.id)) for v in experiment.variants]
    return [
        VariantValue(v.key, v.name, s.n, _value(s))
        for v, s in zip(experiment.variants, stats, strict=True)
    ]


def segment_results(
    experiment: Experiment, counts: ExperimentCounts, settings: AnalysisSettings
) -> list[SegmentResult]:
    """Per value of each segment dimension, the plain comparisons of every metric."""
    out = []
    for position, dimension in enumerate(settings.segments):
        by_value: dict[str, dict[int, VariantCounts]] = {}
        for cell, by_variant in counts.segments.items():
            merged = by_value.setdefault(cell[position], {})
            for variant_id, variant_counts in by_variant.items():
                seen = merged.get(variant_id)
                merged[variant_id] = (
                    variant_counts
                    if seen is None
                    else merge_counts(seen, variant_counts)
                )
        for value in sorted(by_value):
            cell_counts = by_value[value]
            out.append(
                SegmentResult(
                    dimension,
                    value,
                    sum(c.users for c in cell_counts.values()),
                    [
                        _plain_result(METRICS[name], experiment, cell_counts, settings)
                        for name in experiment.metrics
                    ],
                )
            )
    return out


def _plain_result(
    metric: MetricDefinition,
    experiment: Experiment,
    counts: Mapping[int, VariantCounts],
    settings: AnalysisSettings,
) -> MetricResult:
    control = _stats_of(metric, counts.get(experiment.variants[0].id))
    comparisons = {
        v.key: compare(
            metric, control, _stats_of(metric, counts.get(v.id)), settings.alpha
        )
        for v in experiment.variants[1:]
    }
    return MetricResult(metric, _values(metric, experiment, counts), comparisons)


def _stats_of(
    metric: MetricDefinition, variant_counts: VariantCounts | None
) -> SampleStats | RatioStats:
    if variant_counts is not None:
        return variant_counts.stats[metric.name]
    if metric.kind == "ratio":
        return RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return SampleStats(0, 0.0, 0.0)


def _covariate_of(
    metric: MetricDefinition, variant_counts: VariantCounts | None
) -> Covariate | None:
    if variant_counts is None:
        return None
    return variant_counts.covariates.get(metric.name)


def _value(stats: SampleStats | RatioStats) -> float:
    return stats.ratio if isinstance(stats, RatioStats) else stats.mean


def _warnings(
    srm: SampleRatioCheck,
    excluded: int,
    users: int,
    progress: Progress,
    caps: Mapping[str, float],
) -> list[str]:
    warnings = []
    if srm.mismatch:
        warnings.append(
            "Sample-ratio mismatch (chi-square p = "
            f"{srm.p_value:.2g} < 0.001): users did not split as designed, so "
            "the results are not trustworthy until the cause is found."
        )
    if users + excluded > 0 and excluded / (users + excluded) > EXCLUDED_WARNING_SHARE:
        warnings.append(
            f"{excluded:,} users saw more than one variant and were left out "
            f"({excluded / (users + excluded):.1%})."
        )
    if not progress.is_final:
        warnings.append(f"Interim: {progress.describe()}. Every figure may still move.")
    if caps:
        capped = ", ".join(f"{METRICS[k].label} at {v:,.4g}" for k, v in caps.items())
        warnings.append(
            f"Winsorised: per-user values capped at the pooled percentile ({capped})."
        )
    return warnings
