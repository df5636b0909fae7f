"""Experiment metrics: their definitions and the SQL that turns exposures and
events into frozen per-variant counts (n, sums, sums of squares, cross-products).

The database does the work with GROUP BY, on SQLite and PostgreSQL alike; no
event is loaded into Python.

Exposure rules: a user counts from their first exposure in the experiment;
outcome events before it are ignored; a user exposed to more than one variant
is excluded from every arm (and counted); the window ends at the experiment's
stop, or now while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Float, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from analysis.sufficient import RatioStats, SampleStats
from experimentation.models import Event, Exposure

MetricKind = Literal["proportion", "mean", "ratio"]


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    label: str
    kind: MetricKind
    unit: str
    description: str


METRICS: dict[str, MetricDefinition] = {
    metric.name: metric
    for metric in (
        MetricDefinition(
            "click_through_rate",
            "Click-through rate",
            "ratio",
            "clicks per impression",
            "Clicks on recommended items / impressions of them (events carrying "
            "the request_id of one of the user's exposures); delta method.",
        ),
        MetricDefinition(
            "conversion",
            "Conversion",
            "proportion",
            "share of users",
            "Share of exposed users with at least one purchase after their "
            "first exposure; two-proportion test.",
        ),
        MetricDefinition(
            "avg_session_duration",
            "Average session duration",
            "mean",
            "seconds",
            "Per user, the mean length of their sessions (session_end events, "
            "dwell_seconds) after first exposure; users without a session are "
            "left out; Welch t test.",
        ),
        MetricDefinition(
            "revenue_per_user",
            "Revenue per user",
            "mean",
            "revenue",
            "Per user, the sum of purchase values after first exposure (0 for "
            "users who bought nothing); Welch t test.",
        ),
    )
}


@dataclass(frozen=True)
class VariantCounts:
    """Everything the report needs for one variant, as frozen counts."""

    variant_id: int
    users: int
    stats: dict[str, SampleStats | RatioStats]


@dataclass(frozen=True)
class ExperimentCounts:
    variants: dict[int, VariantCounts]
    excluded_users: int
    """Users exposed to more than one variant, left out of every arm."""


def collect_counts(
    session: Session, *, experiment_id: int, window_end: datetime
) -> ExperimentCounts:
    """Per-variant sufficient statistics of every metric, computed by the database."""
    first = (
        select(
            Exposure.user_id.label("user_id"),
            func.min(Exposure.served_at).label("first_at"),
            func.min(Exposure.variant_id).label("variant_id"),
            func.count(func.distinct(Exposure.variant_id)).label("n_variants"),
        )
        .where(
            Exposure.experiment_id == experiment_id, Exposure.served_at <= window_end
        )
        .group_by(Exposure.user_id)
        .subquery("first_exposure")
    )

    # Impressions and clicks tied to this experiment's recommendations by request_id.
    served = (
        select(
            Exposure.user_id.label("user_id"),
            func.sum(case((Event.type == "impression", 1), else_=0)).label("impr"),
            func.sum(case((Event.type == "click", 1), else_=0)).label("clicks"),
        )
        .join(Event, Event.request_id == Exposure.request_id)
        .where(
            Exposure.experiment_id == experiment_id,
            Event.type.in_(("impression", "click")),
            Event.user_id == Exposure.user_id,
            Event.occurred_at <= window_end,
        )
        .group_by(Exposure.user_id)
        .subquery("served")
    )

    after_first = and_(
        Event.user_id == first.c.user_id,
        Event.occurred_at >= first.c.first_at,
        Event.occurred_at <= window_end,
    )
    purchases = (
        select(
            first.c.user_id.label("user_id"),
            func.count().label("orders"),
            func.sum(Event.value).label("revenue"),
        )
        .join(Event, after_first)
        .where(Event.type == "purchase")
        .group_by(first.c.user_id)
        .subquery("purchases")
    )
    sessions = (
        select(
            first.c.user_id.label("user_id"),
            func.count().label("n_sessions"),
            func.sum(Event.dwell_seconds).label("seconds"),
        )
        .join(Event, after_first)
        .where(Event.type == "session_end", Event.dwell_seconds.is_not(None))
        .group_by(first.c.user_id)
        .subquery("sessions")
    )

    impr = func.coalesce(served.c.impr, 0)
    clicks = func.coalesce(served.c.clicks, 0)
    converted = case((func.coalesce(purchases.c.orders, 0) > 0, 1), else_=0)
    revenue = cast(func.coalesce(purchases.c.revenue, 0.0), Float)
    has_session = sessions.c.n_sessions > 0
    mean_session = cast(sessions.c.seconds, Float) / cast(sessions.c.n_sessions, Float)
    session_value = case((has_session, mean_session), else_=None)

    query = (
        select(
            first.c.variant_id,
            func.count().label("users"),
            func.sum(clicks).label("clicks"),
            func.sum(clicks * clicks).label("clicks_sq"),
            func.sum(impr).label("impr"),
            func.sum(impr * impr).label("impr_sq"),
            func.sum(clicks * impr).label("clicks_impr"),
            func.sum(converted).label("converted"),
            func.sum(revenue).label("revenue"),
            func.sum(revenue * revenue).label("revenue_sq"),
            func.count(session_value).label("session_users"),
            func.sum(session_value).label("session"),
            func.sum(session_value * session_value).label("session_sq"),
        )
        .select_from(first)
        .outerjoin(served, served.c.user_id == first.c.user_id)
        .outerjoin(purchases, purchases.c.user_id == first.c.user_id)
        .outerjoin(sessions, sessions.c.user_id == first.c.user_id)
        .where(first.c.n_variants == 1)
        .group_by(first.c.variant_id)
    )
    excluded = session.scalar(
        select(func.count()).select_from(first).where(first.c.n_variants > literal(1))
    )

    variants: dict[int, VariantCounts] = {}
    for row in session.execute(query):
        m = row._mapping
        n = int(m["users"])
        variants[int(m["variant_id"])] = VariantCounts(
            variant_id=int(m["variant_id"]),
            users=n,
            stats={
                "click_through_rate": RatioStats(
                    n=n,
                    numerator_sum=float(m["clicks"] or 0),
                    numerator_sum_squares=float(m["clicks_sq"] or 0),
                    denominator_sum=float(m["impr"] or 0),
                    denominator_sum_squares=float(m["impr_sq"] or 0),
                    cross_sum=float(m["clicks_impr"] or 0),
                ),
                "conversion": SampleStats(
                    n=n,
                    sum=float(m["converted"] or 0),
                    sum_squares=float(m["converted"] or 0),
                ),
                "revenue_per_user": SampleStats(
                    n=n,
                    sum=float(m["revenue"] or 0),
                    sum_squares=float(m["revenue_sq"] or 0),
                ),
                "avg_session_duration": SampleStats(
                    n=int(m["session_users"] or 0),
                    sum=float(m["session"] or 0),
                    sum_squares=float(m["session_sq"] or 0),
                ),
            },
        )
    return ExperimentCounts(variants=variants, excluded_users=int(excluded or 0))
