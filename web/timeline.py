"""Each metric's cumulative value per variant at the end of every day so far.

The running day reads the stored per-user values (analysis/user_values.py).
TODO: each closed day is one pass over the events, so a cold page of a long,
large experiment is slow (about 0.5 s per day at 3,000 users on SQLite, about
30 s per day at 10M events on PostgreSQL); storing each closed day's point
once, from the scheduled refresh, would make it one pass per day ever.

A day that has ended is counted once and kept for CLOSED_DAY_SECONDS (each
point is a full pass over the experiment's events); the running day is
always counted afresh. A late event shows in a past day within that time.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import FromClause
from sqlalchemy.orm import Session

from analysis.metrics import collect_counts
from analysis.settings import AnalysisSettings
from analysis.user_values import current_values
from experimentation.dashboard import buckets
from experimentation.models import Experiment
from web.charts import Series

CLOSED_DAY_SECONDS = 300.0
_MAX_ENTRIES = 1024
_cache: dict[tuple[Any, ...], tuple[float, dict[str, dict[str, float]]]] = {}
_lock = threading.Lock()


def _value(stats: Any) -> float:
    value: Any = getattr(stats, "ratio", None)
    if value is None:
        value = getattr(stats, "mean", math.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _point(
    session: Session,
    experiment: Experiment,
    metrics: list[str],
    end: datetime,
    stored: FromClause | None = None,
) -> dict[str, dict[str, float]]:
    """metric -> variant key -> value, counting everything up to `end`."""
    counts = collect_counts(
        session, experiment_id=experiment.id, window_end=end, stored=stored
    )
    point: dict[str, dict[str, float]] = {m: {} for m in metrics}
    for variant in experiment.variants:
        found = counts.variants.get(variant.id)
        for metric in metrics:
            stats = found.stats.get(metric) if found is not None else None
            point[metric][variant.key] = (
                _value(stats) if stats is not None else math.nan
            )
    return point


def _cached_point(
    session: Session, experiment: Experiment, metrics: list[str], end: datetime
) -> dict[str, dict[str, float]]:
    key = (
        str(session.get_bind().engine.url),
        experiment.id,
        experiment.key,
        experiment.salt,
        tuple(metrics),
        end.isoformat(),
    )
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    point = _point(session, experiment, metrics, end)
    with _lock:
        if len(_cache) >= _MAX_ENTRIES:
            _cache.clear()
        _cache[key] = (now + CLOSED_DAY_SECONDS, point)
    return point


def _stored(
    experiment: Experiment, session: Session, end: datetime
) -> FromClause | None:
    """The stored per-user values up to `end` (the report has just brought
    them there), so that the running day does not read every event again."""
    assert experiment.started_at is not None
    lookback = timedelta(days=AnalysisSettings().cuped_lookback_days)
    return current_values(
        session,
        experiment=experiment,
        window_end=end,
        pre_start=experiment.started_at - lookback,
    )


def cumulative(
    session: Session,
    *,
    experiment: Experiment,
    metrics: list[str],
    window_end: datetime,
) -> dict[str, list[Series]]:
    """metric -> one series per variant; each point counts everything up to then."""
    if experiment.started_at is None:
        return {m: [] for m in metrics}
    points: dict[str, dict[str, list[tuple[datetime, float]]]] = {
        m: {v.key: [] for v in experiment.variants} for m in metrics
    }
    for _, end in buckets(experiment.started_at, window_end):
        closed = end < window_end
        if closed:
            point = _cached_point(session, experiment, metrics, end)
        else:
            point = _point(
                session, experiment, metrics, end, _stored(experiment, session, end)
            )
        for metric in metrics:
            for key, value in point[metric].items():
                points[metric][key].append((end, value))
    labels = {v.key: v.name or v.key for v in experiment.variants}
    return {
        m: [Series(labels[key], series) for key, series in by_variant.items()]
        for m, by_variant in points.items()
    }
