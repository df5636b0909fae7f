"""The SQL that turns exposures and events into per-variant counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from analysis.metrics import collect_counts, metric_percentile
from analysis.sufficient import (
    CovariateStats,
    RatioCovariateStats,
    RatioStats,
    SampleStats,
)
from experimentation.events import insert_rows
from experimentation.experiments import create_experiment
from experimentation.models import User
from experimentation.spec import ExperimentSpec
from tests.utils.factories import event_row, expose, flagship_spec

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
WINDOW_END = T + timedelta(days=7)


def test_collect_counts_follows_exposure_rules(session: Session) -> None:
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    h = timedelta(hours=1)
    r1 = expose(session, experiment, 0, "a1", T)
    r2 = expose(session, experiment, 0, "a1", T + h)
    r3 = expose(session, experiment, 0, "a2", T + timedelta(days=1))
    r4 = expose(session, experiment, 1, "b1", T)
    expose(session, experiment, 0, "m1", T)
    r6 = expose(session, experiment, 1, "m1", T + h)
    # Served after the window: not counted at all.
    expose(session, experiment, 1, "late", WINDOW_END + h)
    rows = (
        [event_row("a1", "impression", T, request_id=r1) for _ in range(3)]
        + [event_row("a1", "impression", T + h, request_id=r2) for _ in range(2)]
        + [event_row("a1", "click", T, request_id=r1)]
        + [event_row("a1", "purchase", T + 2 * h, value=5.0)]
        + [event_row("a1", "purchase", T - h, value=2.0)]  # before first exposure
        + [event_row("a1", "session_end", T + h / 6, item_id=None, dwell_seconds=100)]
        + [event_row("a1", "session_end", T + 3 * h, item_id=None, dwell_seconds=200)]
        + [
            event_row("a2", "impression", T + timedelta(days=1), request_id=r3)
            for _ in range(4)
        ]
        + [event_row("b1", "impression", T, request_id=r4) for _ in range(2)]
        + [event_row("b1", "click", T, request_id=r4) for _ in range(2)]
        + [event_row("b1", "purchase", WINDOW_END + h, value=10.0)]  # after the window
        + [event_row("b1", "session_end", T + h, item_id=None, dwell_seconds=60)]
        + [event_row("m1", "purchase", T + 2 * h, value=99.0)]
        + [event_row("m1", "impression", T + h, request_id=r6)]
        # Another user's click on a1's request: not a1's outcome.
        + [event_row("b1", "click", T, request_id=r1)]
    )
    insert_rows(session, rows)
    session.flush()

    counts = collect_counts(session, experiment_id=experiment.id, window_end=WINDOW_END)

    assert counts.excluded_users == 1
    control = counts.variants[experiment.variants[0].id]
    treatment = counts.variants[experiment.variants[1].id]
    assert (control.users, treatment.users) == (2, 1)
    assert control.stats["click_through_rate"] == RatioStats(2, 1, 1, 9, 41, 5)
    assert control.stats["conversion"] == SampleStats(2, 1, 1)
    assert control.stats["revenue_per_user"] == SampleStats(2, 5.0, 25.0)
    assert control.stats["avg_session_duration"] == SampleStats(1, 150.0, 22_500.0)
    assert treatment.stats["click_through_rate"] == RatioStats(1, 2, 4, 2, 4, 4)
    assert treatment.stats["conversion"] == SampleStats(1, 0, 0)
    assert treatment.stats["revenue_per_user"] == SampleStats(1, 0.0, 0.0)
    assert treatment.stats["avg_session_duration"] == SampleStats(1, 60.0, 3_600.0)


def test_collect_counts_empty_experiment(session: Session) -> None:
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    session.flush()
    counts = collect_counts(session, experiment_id=experiment.id, window_end=WINDOW_END)
    assert counts.variants == {}
    assert counts.excluded_users == 0


def _quality_exposure(
    session: Session, experiment: Any, variant: int, user: str, at: datetime, q: float
) -> str:
    return expose(
        session,
        experiment,
        variant,
        user,
        at,
        category_entropy=q,
        fresh_share=q / 10,
        mean_popularity_rank=10 * q,
        latency_ms=None if q > 2 else 5.0,
    )


def _small_experiment(session: Session) -> Any:
    """a1, a2 in control and b1 in treatment, with pre-exposure purchases."""
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    h = timedelta(hours=1)
    _quality_exposure(session, experiment, 0, "a1", T, 1.0)
    _quality_exposure(session, experiment, 0, "a1", T + h, 2.0)
    _quality_exposure(session, experiment, 0, "a2", T, 3.0)
    expose(session, experiment, 1, "b1", T)
    session.add_all(
        User(user_id=u, attributes=attrs, created_at=T)
        for u, attrs in (
            ("a1", {"gender": "F", "age": 24}),
            ("a2", {"gender": "M", "age": 40}),
            ("b1", {"gender": "F", "age": 61}),
        )
    )
    rows = [
        event_row("a1", "purchase", T + h, value=5.0),
        event_row("a1", "purchase", T - h, value=2.0),
        event_row("a1", "purchase", T - timedelta(days=30), value=7.0),
        event_row("a2", "purchase", T + h, value=50.0),
        event_row("b1", "purchase", T - h, value=4.0),
        event_row("b1", "session_end", T - h, dwell_seconds=40),
        event_row("b1", "session_end", T + h, dwell_seconds=80),
        event_row("b1", "impression", T - h),
        event_row("b1", "impression", T - h),
        event_row("b1", "click", T - h),
    ]
    insert_rows(session, rows)
    session.flush()
    return experiment


def test_collect_counts_guardrails_are_per_user_means_of_exposures(
    session: Session,
) -> None:
    experiment = _small_experiment(session)
    counts = collect_counts(session, experiment_id=experiment.id, window_end=WINDOW_END)
    control = counts.variants[experiment.variants[0].id].stats
    treatment = counts.variants[experiment.variants[1].id].stats
    # a1 averages 1.0 and 2.0; a2 has 3.0; b1 was served no measured list.
    assert control["diversity"] == SampleStats(2, 4.5, 1.5**2 + 9.0)
    freshness = control["freshness"]
    assert isinstance(freshness, SampleStats)
    assert (freshness.n, freshness.sum) == (2, pytest.approx(0.45))
    assert freshness.sum_squares == pytest.approx(0.15**2 + 0.09)
    assert control["novelty"] == SampleStats(2, 45.0, 15.0**2 + 900.0)
    assert control["serving_latency_ms"] == SampleStats(1, 5.0, 25.0)
    assert treatment["diversity"] == SampleStats(0, 0.0, 0.0)


def test_collect_counts_pre_exposure_covariates_within_lookback(
    session: Session,
) -> None:
    experiment = _small_experiment(session)
    counts = collect_counts(
        session,
        experiment_id=experiment.id,
        window_end=WINDOW_END,
        pre_start=T - timedelta(days=14),
    )
    control = counts.variants[experiment.variants[0].id].covariates
    treatment = counts.variants[experiment.variants[1].id].covariates
    # a1: 5 after, 2 before (the purchase 30 days back is outside the lookback).
    assert control["revenue_per_user"] == CovariateStats(2, 55.0, 2525.0, 2, 4, 10)
    assert control["conversion"] == CovariateStats(2, 2, 2, 1, 1, 1)
    assert treatment["avg_session_duration"] == CovariateStats(
        1, 80.0, 6400.0, 40.0, 1600.0, 3200.0
    )
    ctr = treatment["click_through_rate"]
    assert isinstance(ctr, RatioCovariateStats)
    assert ctr.sums == (0.0, 0.0, 1.0, 2.0)
    assert ctr.products[2][3] == 2.0
    everything = collect_counts(
        session, experiment_id=experiment.id, window_end=WINDOW_END
    )
    assert everything.variants[experiment.variants[0].id].covariates[
        "revenue_per_user"
    ] == CovariateStats(2, 55.0, 2525.0, 9, 81, 45)


def test_collect_counts_caps_and_percentile(session: Session) -> None:
    experiment = _small_experiment(session)
    cap = metric_percentile(
        session,
        experiment_id=experiment.id,
        window_end=WINDOW_END,
        metric="revenue_per_user",
        quantile=0.5,
    )
    assert cap == 5.0  # pooled values 0, 5, 50: the median
    counts = collect_counts(
        session,
        experiment_id=experiment.id,
        window_end=WINDOW_END,
        caps={"revenue_per_user": cap},
    )
    control = counts.variants[experiment.variants[0].id].stats
    assert control["revenue_per_user"] == SampleStats(2, 10.0, 50.0)


def test_collect_counts_segments_add_up_to_the_whole(session: Session) -> None:
    experiment = _small_experiment(session)
    whole = collect_counts(session, experiment_id=experiment.id, window_end=WINDOW_END)
    split = collect_counts(
        session,
        experiment_id=experiment.id,
        window_end=WINDOW_END,
        segments=("gender", "age_band"),
    )
    assert set(split.segments) == {
        ("F", "under 25"),
        ("M", "35-44"),
        ("F", "55 and over"),
    }
    control = experiment.variants[0].id
    assert split.segments[("F", "under 25")][control].users == 1
    assert split.variants == whole.variants
