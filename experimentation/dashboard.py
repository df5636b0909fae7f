"""The recommender dashboard's figures: per variant and per day of the
experiment, what users did with the lists and what the lists were like.

Per day: CTR (clicks / impressions on lists served that day), conversion and
revenue per user (purchases that day by users served that day), diversity
(mean category entropy of the lists), freshness (mean share of new items),
catalogue coverage (distinct items served / catalogue size) and serving
latency (median and 95th percentile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from experimentation.models import Event, Experiment, Exposure, Item

DAY = timedelta(days=1)
MAX_POINTS = 30


@dataclass
class DayFigures:
    start: datetime
    users: int = 0
    lists: int = 0
    impressions: int = 0
    clicks: int = 0
    buyers: int = 0
    revenue: float = 0.0
    diversity: float = math.nan
    freshness: float = math.nan
    coverage: float = math.nan
    latency_p50: float = math.nan
    latency_p95: float = math.nan

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else math.nan

    @property
    def conversion(self) -> float:
        return self.buyers / self.users if self.users else math.nan

    @property
    def revenue_per_user(self) -> float:
        return self.revenue / self.users if self.users else math.nan


@dataclass
class VariantSeries:
    key: str
    name: str
    days: list[DayFigures] = field(default_factory=list)


def buckets(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Whole days from the start (wider steps past MAX_POINTS days)."""
    if end <= start:
        return []
    span = end - start
    step = DAY * max(1, math.ceil(span / DAY / MAX_POINTS))
    edges = []
    at = start
    while at < end:
        edges.append((at, min(at + step, end)))
        at += step
    return edges


def recommender_dashboard(
    session: Session, *, experiment: Experiment, window_end: datetime
) -> list[VariantSeries]:
    series = {v.id: VariantSeries(v.key, v.name) for v in experiment.variants}
    if experiment.started_at is None:
        return list(series.values())
    edges = buckets(experiment.started_at, window_end)
    catalogue = session.scalar(select(func.count(Item.id))) or 0
    for start, end in edges:
        figures = {vid: DayFigures(start=start) for vid in series}
        in_bucket = (
            Exposure.experiment_id == experiment.id,
            Exposure.served_at >= start,
            Exposure.served_at < end,
        )
        _lists(session, figures, in_bucket, catalogue)
        _engagement(session, figures, in_bucket, end)
        for vid, day in figures.items():
            series[vid].days.append(day)
    return list(series.values())


def _lists(
    session: Session,
    figures: dict[int, DayFigures],
    in_bucket: tuple[ColumnElement[bool], ...],
    catalogue: int,
) -> None:
    rows = session.execute(
        select(
            Exposure.variant_id,
            Exposure.user_id,
            Exposure.items,
            Exposure.category_entropy,
            Exposure.fresh_share,
            Exposure.latency_ms,
        ).where(*in_bucket)
    ).all()
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(int(row.variant_id), []).append(tuple(row))
    for vid, part in grouped.items():
        day = figures.get(vid)
        if day is None:
            continue
        day.lists = len(part)
        day.users = len({r[1] for r in part})
        items = {entry["item_id"] for r in part for entry in (r[2] or [])}
        day.coverage = len(items) / catalogue if catalogue else math.nan
        day.diversity = _mean([r[3] for r in part])
        day.freshness = _mean([r[4] for r in part])
        latency = np.array([r[5] for r in part if r[5] is not None], dtype=float)
        if latency.size:
            day.latency_p50 = float(np.percentile(latency, 50))
            day.latency_p95 = float(np.percentile(latency, 95))


def _engagement(
    session: Session,
    figures: dict[int, DayFigures],
    in_bucket: tuple[ColumnElement[bool], ...],
    end: datetime,
) -> None:
    ctr = session.execute(
        select(
            Exposure.variant_id,
            func.sum(case((Event.type == "impression", 1), else_=0)),
            func.sum(case((Event.type == "click", 1), else_=0)),
        )
        .join(Event, Event.request_id == Exposure.request_id)
        .where(
            *in_bucket,
            Event.user_id == Exposure.user_id,
            Event.type.in_(("impression", "click")),
        )
        .group_by(Exposure.variant_id)
    ).all()
    for vid, impressions, clicks in ctr:
        if int(vid) in figures:
            figures[int(vid)].impressions = int(impressions or 0)
            figures[int(vid)].clicks = int(clicks or 0)
    served = (
        select(
            Exposure.user_id,
            Exposure.variant_id,
            func.min(Exposure.served_at).label("first"),
        )
        .where(*in_bucket)
        .group_by(Exposure.user_id, Exposure.variant_id)
        .subquery("served")
    )
    bought = session.execute(
        select(
            served.c.variant_id,
            func.count(distinct(Event.user_id)),
            func.sum(Event.value),
        )
        .join(Event, Event.user_id == served.c.user_id)
        .where(
            Event.type == "purchase",
            Event.occurred_at >= served.c.first,
            Event.occurred_at < end,
        )
        .group_by(served.c.variant_id)
    ).all()
    for vid, buyers, revenue in bought:
        if int(vid) in figures:
            figures[int(vid)].buyers = int(buyers or 0)
            figures[int(vid)].revenue = float(revenue or 0.0)


def _mean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else math.nan
