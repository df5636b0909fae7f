"""The result report of one experiment: progress, sample-ratio check, and per
metric the value of each variant and each treatment's lift over control."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from analysis import codes
from analysis.metrics import METRICS, MetricDefinition, collect_counts
from analysis.progress import Progress
from analysis.significance import (
    Comparison,
    compare_means,
    compare_proportions,
    compare_ratios,
)
from analysis.srm import SampleRatioCheck, sample_ratio_mismatch
from analysis.sufficient import RatioStats, SampleStats
from experimentation.experiments import get_experiment
from experimentation.models import Experiment

log = logging.getLogger(__name__)

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
    """Keyed by treatment variant; each against the first variant (control)."""


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

    @property
    def final(self) -> bool:
        return self.progress.is_final and not self.srm.mismatch

    @property
    def label(self) -> str:
        if self.srm.mismatch:
            return "blocked"
        return "final" if self.final else "interim"


def build_report(session: Session, *, key: str, now: datetime) -> Report:
    started = time.perf_counter()
    experiment = get_experiment(session, key=key)
    window_end = experiment.stopped_at or now
    counts = collect_counts(session, experiment_id=experiment.id, window_end=window_end)
    variants = experiment.variants
    users = [
        counts.variants[v.id].users if v.id in counts.variants else 0 for v in variants
    ]
    srm = sample_ratio_mismatch(users, [v.weight for v in variants])
    progress = _progress(experiment, users=sum(users), window_end=window_end)
    metrics = [
        _metric_result(METRICS[name], experiment, counts.variants)
        for name in experiment.metrics
    ]
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
        warnings=_warnings(srm, counts.excluded_users, sum(users), progress),
    )
    log.info(
        "report built",
        extra={
            "experiment": key,
            "users": sum(users),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return report


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


def _metric_result(
    metric: MetricDefinition, experiment: Experiment, counts: dict[int, Any]
) -> MetricResult:
    stats = [_stats_of(metric, counts.get(v.id)) for v in experiment.variants]
    values = [
        VariantValue(v.key, v.name, s.n, _value(s))
        for v, s in zip(experiment.variants, stats, strict=True)
    ]
    control = stats[0]
    comparisons = {
        v.key: _compare(metric, control, s)
        for v, s in zip(experiment.variants[1:], stats[1:], strict=True)
    }
    return MetricResult(metric=metric, values=values, comparisons=comparisons)


def _stats_of(
    metric: MetricDefinition, variant_counts: Any
) -> SampleStats | RatioStats:
    if variant_counts is not None:
        stats: SampleStats | RatioStats = variant_counts.stats[metric.name]
        return stats
    if metric.kind == "ratio":
        return RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return SampleStats(0, 0.0, 0.0)


def _value(stats: SampleStats | RatioStats) -> float:
    return stats.ratio if isinstance(stats, RatioStats) else stats.mean


def _compare(
    metric: MetricDefinition,
    control: SampleStats | RatioStats,
    treatment: SampleStats | RatioStats,
) -> Comparison:
    if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
        return compare_ratios(control, treatment, alpha=ALPHA)
    assert isinstance(control, SampleStats) and isinstance(treatment, SampleStats)
    if metric.kind == "proportion":
        return compare_proportions(control, treatment, alpha=ALPHA)
    return compare_means(control, treatment, alpha=ALPHA)


def _warnings(
    srm: SampleRatioCheck, excluded: int, users: int, progress: Progress
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
    return warnings


def _number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data, metrics under their names."""
    return {
        "experiment": report.experiment,
        "name": report.name,
        "status": report.status,
        "result": report.label,
        "control": report.control,
        "window_end": report.window_end.isoformat(),
        "progress": report.progress.to_dict(),
        "sample_ratio_mismatch": {
            "observed": list(report.srm.observed),
            "expected": [round(e, 3) for e in report.srm.expected],
            "p_value": _number(report.srm.p_value),
            "mismatch": report.srm.mismatch,
        },
        "excluded_users": report.excluded_users,
        "warnings": report.warnings,
        "metrics": {m.metric.name: _metric_dict(m) for m in report.metrics},
    }


def _metric_dict(result: MetricResult) -> dict[str, Any]:
    return {
        "label": result.metric.label,
        "kind": result.metric.kind,
        "unit": result.metric.unit,
        "variants": {
            v.key: {"name": v.name, "n": v.n, "value": _number(v.value)}
            for v in result.values
        },
        "comparisons": {
            key: _comparison_dict(c) for key, c in result.comparisons.items()
        },
    }


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    def effect(e: Any) -> dict[str, Any]:
        return {
            "estimate": _number(e.estimate),
            "ci95": [_number(e.ci_low), _number(e.ci_high)],
            "p_value": _number(e.p_value),
        }

    significant = math.isfinite(c.absolute.p_value) and c.absolute.p_value < ALPHA
    return {
        "method": c.method,
        "absolute_lift": effect(c.absolute),
        "relative_lift": effect(c.relative),
        "p_value": _number(c.absolute.p_value),
        "significant": significant,
        "message": codes.explain(c.message) if c.message else None,
    }
