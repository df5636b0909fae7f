"""Each metric's cumulative value per variant at the end of every day so far."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from analysis.metrics import collect_counts
from experimentation.dashboard import buckets
from experimentation.models import Experiment
from web.charts import Series


def _value(stats: Any) -> float:
    value: Any = getattr(stats, "ratio", None)
    if value is None:
        value = getattr(stats, "mean", math.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def cumulative(
    session: Session,
    *,
    experiment: Experiment,
    metrics: list[str],
    window_end: datetime,
) -> dict[str, list[Series]]:
    """metric -> one series per variant; each point counts everything up to then."""
    points: dict[str, dict[str, list[tuple[datetime, float]]]] = {
        m: {v.key: [] for v in experiment.variants} for m in metrics
    }
    if experiment.started_at is None:
        return {m: [] for m in metrics}
    for _, end in buckets(experiment.started_at, window_end):
        counts = collect_counts(session, experiment_id=experiment.id, window_end=end)
        for variant in experiment.variants:
            found = counts.variants.get(variant.id)
            for metric in metrics:
                stats = found.stats.get(metric) if found is not None else None
                value = _value(stats) if stats is not None else math.nan
                points[metric][variant.key].append((end, value))
    labels = {v.key: v.name or v.key for v in experiment.variants}
    return {
        m: [Series(labels[key], series) for key, series in by_variant.items()]
        for m, by_variant in points.items()
    }
