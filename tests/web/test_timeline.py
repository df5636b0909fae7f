"""The report's cumulative trends: settled days counted once and stored."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from analysis.trend_points import SETTLE, count_point, store_closed_days
from analysis.user_values import forget_all
from experimentation.events import insert_rows
from experimentation.experiments import create_experiment, start_experiment
from experimentation.models import Experiment, TrendPoint, UserValuesState
from experimentation.spec import ExperimentSpec
from tests.utils.factories import event_row, expose, flagship_spec
from web.timeline import cumulative

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
METRICS = ["click_through_rate", "conversion", "revenue_per_user"]


def _running(session: Session) -> Experiment:
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    start_experiment(session, key=experiment.key, now=T)
    rows = []
    for day in range(3):
        for u in range(8):
            at = T + day * DAY + timedelta(hours=u)
            request = expose(session, experiment, u % 2, f"u{u}", at)
            rows.append(event_row(f"u{u}", "impression", at, request_id=request))
            if (u + day) % 3 == 0:
                rows.append(event_row(f"u{u}", "click", at, request_id=request))
                rows.append(event_row(f"u{u}", "purchase", at, value=2.0 + u))
    insert_rows(session, rows)
    session.flush()
    return experiment


def _last_points(
    experiment: Experiment, trends: dict[str, list]
) -> dict[str, dict[str, float]]:
    keys = {(v.name or v.key): v.key for v in experiment.variants}
    return {
        metric: {keys[s.label]: s.points[-1][1] for s in series}
        for metric, series in trends.items()
    }


def _points(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(TrendPoint)) or 0


def test_trends_running_day_from_stored_values_equals_the_events(
    session: Session,
) -> None:
    experiment = _running(session)
    end = T + 2 * DAY + timedelta(hours=20)
    trends = cumulative(
        session, experiment=experiment, metrics=METRICS, window_end=end, now=end
    )
    assert session.get(UserValuesState, experiment.id) is not None
    direct = count_point(session, experiment, end)
    for metric, by_variant in _last_points(experiment, trends).items():
        for key, value in by_variant.items():
            assert value == pytest.approx(direct[metric][key])


def test_trends_settled_days_are_counted_once(session: Session) -> None:
    experiment = _running(session)
    end = T + 2 * DAY + SETTLE / 2  # day 2 closed less than SETTLE ago
    first = cumulative(
        session, experiment=experiment, metrics=METRICS, window_end=end, now=end
    )
    assert _points(session) == 1  # day 1 only: day 2 may still get late events
    # A late purchase dated in day 1 leaves its stored point alone.
    insert_rows(session, [event_row("u1", "purchase", T + DAY / 2, value=100.0)])
    again = cumulative(
        session, experiment=experiment, metrics=METRICS, window_end=end, now=end
    )

    def day_one(trends: dict[str, list]) -> list[float]:
        return [s.points[0][1] for s in trends["revenue_per_user"]]

    assert day_one(again) == day_one(first)
    recounted = count_point(session, experiment, T + DAY)["revenue_per_user"]
    assert sorted(recounted.values()) != sorted(day_one(again))


def test_store_closed_days_and_forget(session: Session) -> None:
    experiment = _running(session)
    now = T + 3 * DAY + SETTLE
    assert store_closed_days(session, experiment, now) == 3
    assert store_closed_days(session, experiment, now) == 0
    stored = session.get(TrendPoint, (experiment.id, T + DAY))
    assert stored is not None
    values = stored.values["conversion"]
    assert set(values) == {"control", "treatment"}
    assert all(v is None or not math.isnan(v) for v in values.values())
    # Another run of the experiment: its points are counted again.
    experiment.started_at = T - timedelta(seconds=1)
    assert store_closed_days(session, experiment, now) == 3
    forget_all(session)
    assert _points(session) == 0


def test_a_point_stored_meanwhile_by_another_view_is_shown_not_raised(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the other writer would wait for this session's lock")
    import analysis.trend_points as trend_points

    experiment = _running(session)
    session.commit()
    end, now = T + DAY, T + 3 * DAY
    real_count = trend_points.count_point

    def count_while_another_stores(*args: Any, **kwargs: Any) -> Any:
        point = real_count(*args, **kwargs)
        with Session(engine) as other:
            other.add(
                TrendPoint(
                    experiment_id=experiment.id,
                    ends_at=end,
                    started_at=experiment.started_at,
                    values={},
                    computed_at=now,
                )
            )
            other.commit()
        return point

    monkeypatch.setattr(trend_points, "count_point", count_while_another_stores)
    point = trend_points.closed_day_point(session, experiment, end, now)
    assert set(point["conversion"]) == {"control", "treatment"}
    session.commit()  # the session goes on
