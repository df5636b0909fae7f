"""The SQL that turns exposures and events into per-variant counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from analysis.metrics import collect_counts
from analysis.sufficient import RatioStats, SampleStats
from experimentation.events import insert_rows
from experimentation.experiments import create_experiment
from experimentation.models import Exposure
from experimentation.spec import ExperimentSpec
from tests.utils.factories import flagship_spec

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
WINDOW_END = T + timedelta(days=7)
_ids = count()


def _expose(
    session: Session, experiment: Any, variant: int, user: str, at: datetime
) -> str:
    request_id = f"r{next(_ids)}"
    session.add(
        Exposure(
            experiment_id=experiment.id,
            variant_id=experiment.variants[variant].id,
            user_id=user,
            request_id=request_id,
            page="home",
            items=[],
            from_cache=False,
            served_at=at,
        )
    )
    return request_id


def _event(user: str, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    row = {
        "event_id": f"e{next(_ids)}",
        "user_id": user,
        "item_id": "i1",
        "type": kind,
        "value": None,
        "dwell_seconds": None,
        "session_id": None,
        "request_id": None,
        "query": None,
        "occurred_at": at,
        "received_at": at,
    }
    row.update(fields)
    return row


def test_collect_counts_follows_exposure_rules(session: Session) -> None:
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    h = timedelta(hours=1)
    r1 = _expose(session, experiment, 0, "a1", T)
    r2 = _expose(session, experiment, 0, "a1", T + h)
    r3 = _expose(session, experiment, 0, "a2", T + timedelta(days=1))
    r4 = _expose(session, experiment, 1, "b1", T)
    _expose(session, experiment, 0, "m1", T)
    r6 = _expose(session, experiment, 1, "m1", T + h)
    # Served after the window: not counted at all.
    _expose(session, experiment, 1, "late", WINDOW_END + h)
    rows = (
        [_event("a1", "impression", T, request_id=r1) for _ in range(3)]
        + [_event("a1", "impression", T + h, request_id=r2) for _ in range(2)]
        + [_event("a1", "click", T, request_id=r1)]
        + [_event("a1", "purchase", T + 2 * h, value=5.0)]
        + [_event("a1", "purchase", T - h, value=2.0)]  # before first exposure
        + [_event("a1", "session_end", T + h / 6, item_id=None, dwell_seconds=100)]
        + [_event("a1", "session_end", T + 3 * h, item_id=None, dwell_seconds=200)]
        + [
            _event("a2", "impression", T + timedelta(days=1), request_id=r3)
            for _ in range(4)
        ]
        + [_event("b1", "impression", T, request_id=r4) for _ in range(2)]
        + [_event("b1", "click", T, request_id=r4) for _ in range(2)]
        + [_event("b1", "purchase", WINDOW_END + h, value=10.0)]  # after the window
        + [_event("b1", "session_end", T + h, item_id=None, dwell_seconds=60)]
        + [_event("m1", "purchase", T + 2 * h, value=99.0)]
        + [_event("m1", "impression", T + h, request_id=r6)]
        # Another user's click on a1's request: not a1's outcome.
        + [_event("b1", "click", T, request_id=r1)]
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
