"""Each metric's cumulative value per variant at the end of every day of an
experiment, for the report's trends.

A point counts everything up to its instant, so one pass over the events each.
A day that closed more than `SETTLE` ago is counted once and stored (table
experiment_trend_points); events arriving later for such a day do not move its
point. The running day, and a day that has just closed, are counted afresh:
the running one from the stored per-user values the report keeps current.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import FromClause
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from analysis.metrics import METRICS, collect_counts
from experimentation.dashboard import buckets
from experimentation.models import Experiment, TrendPoint

log = logging.getLogger(__name__)

SETTLE = timedelta(hours=1)
"""How long after a day ends late events may still move its point."""

Point = dict[str, dict[str, float]]
"""metric -> variant key -> value (NaN where a variant has none)."""


def count_point(
    session: Session,
    experiment: Experiment,
    end: datetime,
    stored: FromClause | None = None,
) -> Point:
    """Every metric's value per variant, counting everything up to `end`."""
    counts = collect_counts(
        session, experiment_id=experiment.id, window_end=end, stored=stored
    )
    point: Point = {m: {} for m in METRICS}
    for variant in experiment.variants:
        found = counts.variants.get(variant.id)
        for metric in METRICS:
            stats = found.stats.get(metric) if found is not None else None
            point[metric][variant.key] = _value(stats)
    return point


def closed_day_point(
    session: Session, experiment: Experiment, end: datetime, now: datetime
) -> Point:
    """The point at the end of a closed day: stored once it has settled."""
    assert experiment.started_at is not None
    row = session.get(TrendPoint, (experiment.id, end))
    if row is not None and row.started_at == experiment.started_at:
        return _from_json(row.values)
    point = count_point(session, experiment, end)
    if end <= now - SETTLE:
        try:
            with session.begin_nested():
                if row is not None:  # a point of an earlier run
                    session.delete(row)
                    session.flush()
                session.add(
                    TrendPoint(
                        experiment_id=experiment.id,
                        ends_at=end,
                        started_at=experiment.started_at,
                        values=_to_json(point),
                        computed_at=datetime.now(UTC),
                    )
                )
        except DBAPIError as error:
            # Another page stored it first, or SQLite's writer was busy: the
            # point is shown all the same and stored next time.
            log.warning(
                "trend point not stored",
                extra={"experiment": experiment.key, "error": str(error)[:200]},
            )
    return point


def store_closed_days(session: Session, experiment: Experiment, now: datetime) -> int:
    """Count and store the points of every settled day not stored yet (for the
    scheduled refresh, so that no page view pays for them); how many were new."""
    if experiment.started_at is None:
        return 0
    stored = 0
    for _, end in buckets(experiment.started_at, now):
        if end > now - SETTLE:
            break
        row = session.get(TrendPoint, (experiment.id, end))
        if row is None or row.started_at != experiment.started_at:
            closed_day_point(session, experiment, end, now)
            stored += 1
    return stored


def _value(stats: Any) -> float:
    if stats is None:
        return math.nan
    value: Any = getattr(stats, "ratio", None)
    if value is None:
        value = getattr(stats, "mean", math.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _to_json(point: Point) -> dict[str, Any]:
    # JSON has no NaN: a variant without a value is stored as null.
    return {
        metric: {k: (None if math.isnan(v) else v) for k, v in by_variant.items()}
        for metric, by_variant in point.items()
    }


def _from_json(values: dict[str, Any]) -> Point:
    return {
        metric: {
            k: (math.nan if v is None else float(v)) for k, v in by_variant.items()
        }
        for metric, by_variant in values.items()
    }
