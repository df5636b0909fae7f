"""Experiment metrics: their definitions and the SQL that turns exposures and
events into frozen per-variant counts (n, sums, sums of squares, cross-products).

The database does the work with GROUP BY, on SQLite and PostgreSQL alike; no
event is loaded into Python. One pass over the events gives every user's
outcomes after their first exposure and, for CUPED, the same outcomes before
it; a second GROUP BY turns the users into per-variant (and per-segment) sums.

Exposure rules: a user counts from their first exposure in the experiment;
outcome events before it are ignored (they only feed the pre-exposure
covariate); a user exposed to more than one variant is excluded from every arm
(and counted); the window ends at the experiment's stop, or now while it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Select,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
)
from sqlalchemy.orm import Session, aliased

from analysis.sufficient import (
    CovariateStats,
    RatioCovariateStats,
    RatioStats,
    SampleStats,
)
from experimentation.models import USER_VALUE_COLUMNS, Event, Exposure, User

MetricKind = Literal["proportion", "mean", "ratio"]
SegmentName = Literal["gender", "age_band"]
Stats = SampleStats | RatioStats
Covariate = CovariateStats | RatioCovariateStats


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    label: str
    kind: MetricKind
    unit: str
    description: str
    higher_is_better: bool = True
    cappable: bool = False
    """Heavy-tailed per-user values that winsorisation may cap."""
    has_pre_period: bool = False
    """A pre-exposure value exists, so CUPED can adjust the metric."""


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
            has_pre_period=True,
        ),
        MetricDefinition(
            "conversion",
            "Conversion",
            "proportion",
            "share of users",
            "Share of exposed users with at least one purchase after their "
            "first exposure; two-proportion test.",
            has_pre_period=True,
        ),
        MetricDefinition(
            "avg_session_duration",
            "Average session duration",
            "mean",
            "seconds",
            "Per user, the mean length of their sessions (session_end events, "
            "dwell_seconds) after first exposure; users without a session are "
            "left out; Welch t test.",
            cappable=True,
            has_pre_period=True,
        ),
        MetricDefinition(
            "revenue_per_user",
            "Revenue per user",
            "mean",
            "revenue",
            "Per user, the sum of purchase values after first exposure (0 for "
            "users who bought nothing); Welch t test.",
            cappable=True,
            has_pre_period=True,
        ),
        MetricDefinition(
            "diversity",
            "Diversity",
            "mean",
            "bits of category entropy",
            "Per user, the mean category entropy of the lists they were served "
            "from their first exposure on (a guardrail); Welch t test.",
        ),
        MetricDefinition(
            "freshness",
            "Freshness",
            "mean",
            "share of new items",
            "Per user, the mean share of new items at the top of the lists they "
            "were served from their first exposure on (a guardrail); Welch t test.",
        ),
        MetricDefinition(
            "novelty",
            "Novelty",
            "mean",
            "mean popularity rank",
            "Per user, the mean popularity rank of the items they were served "
            "(1 = most popular, higher is more novel; a guardrail); Welch t test.",
        ),
        MetricDefinition(
            "serving_latency_ms",
            "Serving latency",
            "mean",
            "milliseconds",
            "Per user, the mean time to produce their recommendation lists (a "
            "guardrail, lower is better); Welch t test.",
            higher_is_better=False,
        ),
    )
}

# Per-user means of the served lists' quality, straight from the exposures.
_LIST_QUALITY = {
    "diversity": Exposure.category_entropy,
    "freshness": Exposure.fresh_share,
    "novelty": Exposure.mean_popularity_rank,
    "serving_latency_ms": Exposure.latency_ms,
}
_OUTCOME_TYPES = ("impression", "click", "purchase", "session_end")
_AGE_BANDS = ((25, "under 25"), (35, "25-34"), (45, "35-44"), (55, "45-54"))
UNKNOWN_SEGMENT = "unknown"


@dataclass(frozen=True)
class VariantCounts:
    """Everything the report needs for one variant, as frozen counts."""

    variant_id: int
    users: int
    stats: dict[str, Stats]
    covariates: dict[str, Covariate] = field(default_factory=dict)
    """The metrics with a pre-exposure value: the same users' counts with it."""


@dataclass(frozen=True)
class ExperimentCounts:
    variants: dict[int, VariantCounts]
    excluded_users: int
    """Users exposed to more than one variant, left out of every arm."""
    segments: dict[tuple[str, ...], dict[int, VariantCounts]] = field(
        default_factory=dict
    )
    """Per combination of the requested segment values, the variants' counts."""


def collect_counts(
    session: Session,
    *,
    experiment_id: int,
    window_end: datetime,
    pre_start: datetime | None = None,
    caps: Mapping[str, float] | None = None,
    segments: Sequence[SegmentName] = (),
    stored: FromClause | None = None,
) -> ExperimentCounts:
    """Per-variant sufficient statistics of every metric, computed by the database.

    Args:
        pre_start: the earliest event that counts towards a user's pre-exposure
            value (the lookback); None for all earlier history.
        caps: per cappable metric, the value each user's figure is capped at.
        segments: user attributes to break the counts down by; the overall
            counts are the sums over the segments.
        stored: the experiment's per-user values for this very window and
            lookback, as analysis/user_values.py keeps them; read instead of
            the events when given.
    """
    if stored is None:
        first = _first_exposures(experiment_id, window_end, segments)
        per_user = _per_user(
            first, experiment_id, window_end, pre_start, caps, segments
        )
    else:
        per_user = _from_stored(stored, caps, segments)
    keys = [per_user.c[s] for s in segments]
    query = (
        select(per_user.c.variant_id, *keys, *_aggregates(per_user))
        .group_by(per_user.c.variant_id, *keys)
        .order_by(per_user.c.variant_id, *keys)
    )
    excluded = 0
    cells: dict[tuple[str, ...], dict[int, VariantCounts]] = {}
    for row in session.execute(query):
        m = row._mapping
        if m["variant_id"] is None:  # users who saw more than one variant
            excluded += int(m["users"])
            continue
        cell = tuple(str(m[s]) for s in segments)
        variant_id = int(m["variant_id"])
        cells.setdefault(cell, {})[variant_id] = _variant_counts(variant_id, m)
    variants: dict[int, VariantCounts] = {}
    for by_variant in cells.values():
        for variant_id, counts in by_variant.items():
            seen = variants.get(variant_id)
            variants[variant_id] = (
                counts if seen is None else merge_counts(seen, counts)
            )
    return ExperimentCounts(
        variants=variants,
        excluded_users=excluded,
        segments=cells if segments else {},
    )


def metric_percentile(
    session: Session,
    *,
    experiment_id: int,
    window_end: datetime,
    metric: str,
    quantile: float,
    pre_start: datetime | None = None,
    stored: FromClause | None = None,
) -> float | None:
    """The pooled per-user value of a metric at a quantile (lower nearest rank).

    Computed by the database with ORDER BY and OFFSET, which SQLite and
    PostgreSQL share; None when no user has a value. `stored` as in
    `collect_counts`.
    """
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    per_user: FromClause
    if stored is None:
        first = _first_exposures(experiment_id, window_end)
        per_user = _per_user(first, experiment_id, window_end, pre_start, None, ())
    else:
        per_user = stored
    column = case(
        (per_user.c.variant_id.is_not(None), per_user.c[f"{metric}__y"]), else_=null()
    )
    n = session.scalar(select(func.count(column)))
    if not n:
        return None
    offset = int(quantile * (n - 1))
    value = session.scalar(
        select(column).where(column.is_not(None)).order_by(column).offset(offset)
    )
    return None if value is None else float(value)


def user_values_query(
    experiment_id: int,
    window_end: datetime,
    pre_start: datetime | None,
    users: Select[Any] | None = None,
) -> Select[Any]:
    """Every exposed user's uncapped metric values, one row per user, in the
    columns of experimentation.models.experiment_user_values; only the users
    `users` selects when given."""
    first = _first_exposures(experiment_id, window_end, users=users)
    per_user = _per_user(
        first, experiment_id, window_end, pre_start, None, (), users=users
    )
    return select(
        per_user.c.user_id,
        per_user.c.variant_id,
        *(per_user.c[name] for name in USER_VALUE_COLUMNS),
    )


def _from_stored(
    stored: FromClause,
    caps: Mapping[str, float] | None,
    segments: Sequence[SegmentName],
) -> Subquery:
    """Stored per-user values as the per-user query gives them: capped, and
    with the users' segment values joined."""
    caps = caps or {}
    columns: list[Any] = [stored.c.user_id, stored.c.variant_id]
    for name in USER_VALUE_COLUMNS:
        metric = name.split("__", 1)[0]
        columns.append(_capped(stored.c[name], caps.get(metric)).label(name))
    query = select(
        *columns,
        *(
            column.label(name)
            for name, column in zip(segments, _segment_columns(segments), strict=True)
        ),
    ).select_from(stored)
    if segments:
        query = query.outerjoin(User, User.user_id == stored.c.user_id)
    return query.subquery("stored_per_user")


def _first_exposures(
    experiment_id: int,
    window_end: datetime,
    segments: Sequence[SegmentName] = (),
    users: Select[Any] | None = None,
) -> Subquery:
    """Per exposed user: first exposure, variant (NULL if more than one), the
    served lists' mean quality and, if asked, their segment values."""
    quality = [func.avg(col).label(name) for name, col in _LIST_QUALITY.items()]
    # Segments are joined here, where PostgreSQL knows how many users there
    # are; joined after the per-user GROUP BY it guesses 200 and loops.
    segment_columns = [
        func.max(column).label(name)
        for name, column in zip(segments, _segment_columns(segments), strict=True)
    ]
    # min = max rather than COUNT(DISTINCT): plain aggregates let PostgreSQL
    # hash the users instead of sorting them.
    lowest, highest = func.min(Exposure.variant_id), func.max(Exposure.variant_id)
    query = (
        select(
            Exposure.user_id.label("user_id"),
            func.min(Exposure.served_at).label("first_at"),
            case((lowest == highest, lowest), else_=null()).label("variant_id"),
            *quality,
            *segment_columns,
        )
        .select_from(Exposure)
        .where(
            Exposure.experiment_id == experiment_id, Exposure.served_at <= window_end
        )
        .group_by(Exposure.user_id)
    )
    if users is not None:
        query = query.where(Exposure.user_id.in_(users))
    if segments:
        query = query.outerjoin(User, User.user_id == Exposure.user_id)
    return query.subquery("first_exposure")


def _capped(value: Any, cap: float | None) -> Any:
    if cap is None:
        return value
    bound = literal(cap, Float)
    return case((value > bound, bound), else_=value)


def _segment_columns(segments: Sequence[SegmentName]) -> list[Any]:
    columns: list[Any] = []
    for name in segments:
        if name == "gender":
            gender = User.attributes["gender"].as_string()
            columns.append(func.coalesce(gender, UNKNOWN_SEGMENT))
        else:
            age = User.attributes["age"].as_integer()
            bands = [(age < limit, label) for limit, label in _AGE_BANDS]
            band = case((age.is_(None), UNKNOWN_SEGMENT), *bands, else_="55 and over")
            columns.append(band)
    return columns


def _per_user(
    first: Subquery,
    experiment_id: int,
    window_end: datetime,
    pre_start: datetime | None,
    caps: Mapping[str, float] | None,
    segments: Sequence[SegmentName],
    users: Select[Any] | None = None,
) -> Subquery:
    """One row per exposed user: each metric's value after (y) and before (x).

    A single GROUP BY over the user's events, with their outcomes after and
    before first exposure as conditional sums. Users who saw more than one
    variant get no variant (and are counted as excluded) rather than being
    filtered out: a filter on an aggregate is estimated at a tiny share of the
    users, and PostgreSQL then picks nested-loop joins that never finish on a
    million users.

    TODO: at 10M events PostgreSQL hashes every event twice (users, then the
    served request ids) and takes about 40 s on two busy cores (see
    bench/analysis_scale.py). With an index on events (user_id, request_id)
    INCLUDE (occurred_at, type, value, dwell_seconds) and one on exposures
    (user_id, request_id), a merge plan streams the users in order in about
    12 s; steering the planner to it (or a daily per-user rollup table) is
    not done yet.
    """
    caps = caps or {}
    served_by = aliased(Exposure)
    after = Event.occurred_at >= first.c.first_at
    before = Event.occurred_at < first.c.first_at
    served = served_by.id.is_not(None)
    session_end = and_(Event.type == "session_end", Event.dwell_seconds.is_not(None))
    zero = literal(0.0, Float)

    def count_if(*conditions: ColumnElement[bool]) -> Any:
        return cast(func.sum(case((and_(*conditions), 1.0), else_=0.0)), Float)

    def sum_if(value: Any, *conditions: ColumnElement[bool]) -> Any:
        return func.sum(case((and_(*conditions), cast(value, Float)), else_=0.0))

    def mean_or_null(total: Any, count: Any) -> Any:
        return case((count > zero, total / count), else_=null())

    revenue_cap = caps.get("revenue_per_user")
    session_cap = caps.get("avg_session_duration")
    sessions, pre_sessions = count_if(after, session_end), count_if(before, session_end)
    seconds = sum_if(Event.dwell_seconds, after, session_end)
    pre_seconds = sum_if(Event.dwell_seconds, before, session_end)
    purchase = Event.type == "purchase"
    columns = [
        first.c.user_id,
        func.max(first.c.variant_id).label("variant_id"),
        count_if(served, Event.type == "click").label("click_through_rate__yn"),
        count_if(served, Event.type == "impression").label("click_through_rate__yd"),
        count_if(before, Event.type == "click").label("click_through_rate__xn"),
        count_if(before, Event.type == "impression").label("click_through_rate__xd"),
        case((count_if(after, purchase) > zero, 1.0), else_=0.0).label("conversion__y"),
        case((count_if(before, purchase) > zero, 1.0), else_=0.0).label(
            "conversion__x"
        ),
        _capped(sum_if(Event.value, after, purchase), revenue_cap).label(
            "revenue_per_user__y"
        ),
        _capped(sum_if(Event.value, before, purchase), revenue_cap).label(
            "revenue_per_user__x"
        ),
        _capped(mean_or_null(seconds, sessions), session_cap).label(
            "avg_session_duration__y"
        ),
        func.coalesce(
            _capped(mean_or_null(pre_seconds, pre_sessions), session_cap), zero
        ).label("avg_session_duration__x"),
        *(
            cast(func.max(first.c[name]), Float).label(f"{name}__y")
            for name in _LIST_QUALITY
        ),
        *(func.max(first.c[name]).label(name) for name in segments),
    ]
    window = [
        Event.user_id == first.c.user_id,
        Event.occurred_at <= window_end,
        Event.type.in_(_OUTCOME_TYPES),
    ]
    if pre_start is not None:
        window.append(Event.occurred_at >= pre_start)
    by_user = (
        select(*columns)
        .select_from(first)
        .outerjoin(Event, and_(*window))
        .outerjoin(
            served_by,
            and_(
                served_by.request_id == Event.request_id,
                served_by.experiment_id == experiment_id,
                served_by.user_id == Event.user_id,
                served_by.served_at <= window_end,
                # Lets the database look up only these users' exposures.
                *([served_by.user_id.in_(users)] if users is not None else []),
            ),
        )
        .group_by(first.c.user_id)
    )
    return by_user.subquery("per_user")


def _aggregates(per_user: Subquery) -> list[Any]:
    """Sums over users of every value, square and cross-product the stats need."""
    c = per_user.c
    out: list[Any] = [func.count().label("users")]
    ratio = [c[f"click_through_rate__{v}"] for v in ("yn", "yd", "xn", "xd")]
    for i, a in enumerate(ratio):
        out.append(func.sum(a).label(f"ctr_s{i}"))
        out.extend(func.sum(a * b).label(f"ctr_p{i}{j}") for j, b in enumerate(ratio))
    for name, metric in METRICS.items():
        if metric.kind == "ratio":
            continue
        y = c[f"{name}__y"]
        out += [
            func.count(y).label(f"{name}__n"),
            func.sum(y).label(f"{name}__s"),
            func.sum(y * y).label(f"{name}__q"),
        ]
        if metric.has_pre_period:
            x = case((y.is_not(None), c[f"{name}__x"]), else_=null())
            out += [
                func.sum(x).label(f"{name}__xs"),
                func.sum(x * x).label(f"{name}__xq"),
                func.sum(x * y).label(f"{name}__xy"),
            ]
    return out


def _f(value: Any) -> float:
    return float(value or 0)


def _variant_counts(variant_id: int, m: Mapping[Any, Any]) -> VariantCounts:
    users = int(m["users"])
    stats: dict[str, Stats] = {}
    covariates: dict[str, Covariate] = {}
    sums = (_f(m["ctr_s0"]), _f(m["ctr_s1"]), _f(m["ctr_s2"]), _f(m["ctr_s3"]))
    products = tuple(
        (
            _f(m[f"ctr_p{i}0"]),
            _f(m[f"ctr_p{i}1"]),
            _f(m[f"ctr_p{i}2"]),
            _f(m[f"ctr_p{i}3"]),
        )
        for i in range(4)
    )
    ctr = RatioCovariateStats(users, sums, products)
    stats["click_through_rate"] = ctr.post
    covariates["click_through_rate"] = ctr
    for name, metric in METRICS.items():
        if metric.kind == "ratio":
            continue
        n = int(m[f"{name}__n"] or 0)
        total, squares = _f(m[f"{name}__s"]), _f(m[f"{name}__q"])
        stats[name] = SampleStats(n, total, squares)
        if metric.has_pre_period:
            covariates[name] = CovariateStats(
                n,
                total,
                squares,
                _f(m[f"{name}__xs"]),
                _f(m[f"{name}__xq"]),
                _f(m[f"{name}__xy"]),
            )
    return VariantCounts(variant_id, users, stats, covariates)


def _add(a: Any, b: Any) -> Any:
    """Field-wise sum of two frozen count records of the same type."""
    values = {}
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, tuple):
            values[f.name] = tuple(_add_nested(p, q) for p, q in zip(x, y, strict=True))
        else:
            values[f.name] = x + y
    return type(a)(**values)


def _add_nested(x: Any, y: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(p + q for p, q in zip(x, y, strict=True))
    return x + y


def merge_counts(a: VariantCounts, b: VariantCounts) -> VariantCounts:
    return VariantCounts(
        a.variant_id,
        a.users + b.users,
        {k: _add(v, b.stats[k]) for k, v in a.stats.items()},
        {k: _add(v, b.covariates[k]) for k, v in a.covariates.items()},
    )


__all__ = [
    "METRICS",
    "ExperimentCounts",
    "MetricDefinition",
    "VariantCounts",
    "collect_counts",
    "merge_counts",
    "metric_percentile",
    "user_values_query",
]
