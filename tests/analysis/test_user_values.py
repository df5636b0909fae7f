"""Stored per-user values: after any sequence of refreshes they give the report
exactly what the events give."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, FromClause, func, select, update
from sqlalchemy.orm import Session

from analysis.metrics import ExperimentCounts, collect_counts, metric_percentile
from analysis.user_values import current_values, forget_all
from experimentation.events import insert_rows
from experimentation.experiments import (
    create_experiment,
    delete_experiment,
    start_experiment,
)
from experimentation.models import (
    Experiment,
    User,
    UserValuesState,
    experiment_user_values,
)
from experimentation.spec import ExperimentSpec
from tests.utils.factories import event_row, expose, flagship_spec

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(days=14)
CAPS = {"revenue_per_user": 40.0, "avg_session_duration": 300.0}


def _experiment(session: Session) -> Experiment:
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    start_experiment(session, key=experiment.key, now=T)
    session.flush()
    return experiment


def _refreshed(
    session: Session, experiment: Experiment, end: datetime
) -> FromClause | None:
    """The stored values brought up to `end`, with the tests' lookback."""
    return current_values(
        session, experiment=experiment, window_end=end, pre_start=T - LOOKBACK
    )


def _flat(counts: ExperimentCounts) -> dict[str, float]:
    """Every number in the counts, by path, for an approximate comparison."""
    out: dict[str, float] = {"excluded": counts.excluded_users}

    def walk(prefix: str, value: Any) -> None:
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(f"{prefix}.{f.name}", getattr(value, f.name))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]", v)
        elif isinstance(value, tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        else:
            out[prefix] = float(value)

    walk("variants", counts.variants)
    walk("segments", counts.segments)
    return out


def _both(
    session: Session, experiment: Experiment, window_end: datetime, **kw: Any
) -> tuple[dict[str, float], dict[str, float]]:
    pre_start = T - LOOKBACK
    stored = current_values(
        session, experiment=experiment, window_end=window_end, pre_start=pre_start
    )
    assert stored is not None
    args = {
        "experiment_id": experiment.id,
        "window_end": window_end,
        "pre_start": pre_start,
        **kw,
    }
    direct = collect_counts(session, **args)
    from_stored = collect_counts(session, stored=stored, **args)
    return _flat(from_stored), _flat(direct)


def _traffic(
    session: Session,
    experiment: Experiment,
    rng: np.random.Generator,
    users: list[str],
    start: datetime,
    hours: float,
) -> None:
    """Exposures and every kind of outcome for some of the users, dated in
    [start, start + hours), some of them before the experiment or far ahead."""
    rows = []
    for user in rng.choice(users, size=max(1, len(users) // 3), replace=False):
        at = start + timedelta(hours=float(rng.uniform(0, hours)))
        arm = int(rng.integers(2)) if rng.random() < 0.1 else int(str(user)[1:]) % 2
        request = expose(session, experiment, arm, str(user), at)
        for _ in range(int(rng.integers(0, 6))):
            rows.append(event_row(str(user), "impression", at, request_id=request))
        if rng.random() < 0.5:
            rows.append(event_row(str(user), "click", at, request_id=request))
        if rng.random() < 0.3:
            value = float(np.round(rng.lognormal(2.5, 1.0), 2))
            when = at + timedelta(minutes=float(rng.uniform(-600, 600)))
            rows.append(event_row(str(user), "purchase", when, value=value))
        if rng.random() < 0.4:
            dwell = float(rng.integers(10, 900))
            rows.append(
                event_row(
                    str(user),
                    "session_end",
                    at + timedelta(minutes=5),
                    item_id=None,
                    dwell_seconds=dwell,
                    session_id=f"s-{user}-{len(rows)}",
                )
            )
        if rng.random() < 0.2:  # pre-period, in and before the lookback
            back = timedelta(days=float(rng.uniform(0, 20)))
            rows.append(event_row(str(user), "purchase", T - back, value=3.0))
        if rng.random() < 0.1:  # dated ahead of the current window
            rows.append(
                event_row(str(user), "purchase", at + timedelta(days=2), value=7.0)
            )
    insert_rows(session, rows)
    session.flush()


def test_stored_values_match_the_events_through_every_refresh(
    session: Session,
) -> None:
    rng = np.random.default_rng(7)
    experiment = _experiment(session)
    users = [f"v{i}" for i in range(60)]
    session.add_all(
        User(
            user_id=u,
            attributes={"gender": "F" if i % 2 else "M", "age": 18 + i},
            created_at=T,
        )
        for i, u in enumerate(users)
    )
    window_end = T
    for day in range(6):
        _traffic(session, experiment, rng, users, T + timedelta(days=day), 24)
        window_end = T + timedelta(days=day, hours=int(rng.integers(6, 30)))
        stored, direct = _both(session, experiment, window_end)
        assert stored == pytest.approx(direct, rel=1e-9, abs=1e-9), f"day {day}"
    # Caps and segments apply to the stored values as to the events.
    stored, direct = _both(
        session, experiment, window_end, caps=CAPS, segments=("gender", "age_band")
    )
    assert stored == pytest.approx(direct, rel=1e-9, abs=1e-9)
    assert any(k.startswith("segments") for k in stored)
    values = current_values(
        session,
        experiment=experiment,
        window_end=window_end,
        pre_start=T - LOOKBACK,
    )
    for metric in ("revenue_per_user", "avg_session_duration"):
        kw: dict[str, Any] = {
            "experiment_id": experiment.id,
            "window_end": window_end,
            "metric": metric,
            "quantile": 0.9,
            "pre_start": T - LOOKBACK,
        }
        assert metric_percentile(session, stored=values, **kw) == pytest.approx(
            metric_percentile(session, **kw)
        )


def test_a_refresh_recomputes_only_the_users_touched(session: Session) -> None:
    experiment = _experiment(session)
    for i in range(10):
        expose(session, experiment, i % 2, f"w{i}", T)
    insert_rows(
        session, [event_row(f"w{i}", "purchase", T, value=1.0) for i in range(10)]
    )
    end = T + timedelta(hours=1)
    assert _refreshed(session, experiment, end) is not None
    table = experiment_user_values
    # A marker in an untouched user's row survives the next refresh...
    session.execute(
        update(table).where(table.c.user_id == "w0").values(revenue_per_user__y=-1.0)
    )
    insert_rows(session, [event_row("w1", "purchase", T, value=5.0)])
    assert _refreshed(session, experiment, end) is not None
    revenue = dict(
        session.execute(select(table.c.user_id, table.c.revenue_per_user__y)).all()
    )
    assert revenue["w0"] == -1.0
    # ...while the touched user is recomputed from all of their events.
    assert revenue["w1"] == 6.0


def test_an_earlier_window_or_another_lookback_reads_the_events(
    session: Session,
) -> None:
    experiment = _experiment(session)
    expose(session, experiment, 0, "x", T)
    end = T + timedelta(days=2)
    pre_start = T - LOOKBACK
    assert (
        current_values(
            session, experiment=experiment, window_end=end, pre_start=pre_start
        )
        is not None
    )
    earlier = end - timedelta(days=1)
    assert (
        current_values(
            session, experiment=experiment, window_end=earlier, pre_start=pre_start
        )
        is None
    )
    other = T - timedelta(days=3)
    assert (
        current_values(session, experiment=experiment, window_end=end, pre_start=other)
        is None
    )
    state = session.get(UserValuesState, experiment.id)
    assert state is not None
    assert state.pre_start == pre_start
    assert state.window_end == end


def test_a_new_run_rebuilds_and_deleting_events_forgets(session: Session) -> None:
    experiment = _experiment(session)
    expose(session, experiment, 0, "x", T)
    end = T + timedelta(days=1)
    assert _refreshed(session, experiment, end) is not None
    experiment.started_at = T + timedelta(hours=1)
    assert _refreshed(session, experiment, end) is not None
    state = session.get(UserValuesState, experiment.id)
    assert state is not None
    assert state.started_at == experiment.started_at
    forget_all(session)
    assert session.scalar(select(func.count()).select_from(experiment_user_values)) == 0
    assert session.get(UserValuesState, experiment.id) is None
    assert _refreshed(session, experiment, end) is not None
    delete_experiment(session, key=experiment.key)
    assert session.scalar(select(func.count()).select_from(experiment_user_values)) == 0


def test_events_committed_late_with_lower_ids_are_not_missed(
    engine: Engine, session: Session
) -> None:
    """A writer that took its ids before another one committed, and commits
    after a refresh, still gets its users recomputed."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: ids always commit in order")
    experiment = _experiment(session)
    expose(session, experiment, 0, "slow", T)
    expose(session, experiment, 1, "fast", T)
    session.commit()
    end = T + timedelta(hours=2)
    with Session(engine) as slow:
        insert_rows(slow, [event_row("slow", "purchase", T, value=9.0)])
        slow.flush()  # its id is taken, not yet committed
        with Session(engine) as fast:
            insert_rows(fast, [event_row("fast", "purchase", T, value=4.0)])
            fast.commit()
        assert _refreshed(session, experiment, end) is not None
        session.commit()
        slow.commit()
    stored = _refreshed(session, experiment, end)
    assert stored is not None
    revenue = dict(
        session.execute(select(stored.c.user_id, stored.c.revenue_per_user__y)).all()
    )
    assert revenue == {"slow": 9.0, "fast": 4.0}


def test_refresh_running_covers_running_experiments_only(session: Session) -> None:
    from analysis.user_values import refresh_running

    running = _experiment(session)
    expose(session, running, 0, "x", T)
    draft = create_experiment(
        session,
        spec=ExperimentSpec.model_validate(flagship_spec(id="still-a-draft")),
        now=T,
    )
    now = T + timedelta(days=1)
    assert refresh_running(session, now=now, lookback=LOOKBACK) == 1
    state = session.get(UserValuesState, running.id)
    assert state is not None
    assert (state.window_end, state.pre_start) == (now, T - LOOKBACK)
    assert session.get(UserValuesState, draft.id) is None


def test_a_refresh_held_up_by_another_reads_the_events(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against a report waiting without bound for another transaction
    that holds the experiment's refresh (a breakit run saw 108 s)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite waits on its single writer lock instead")
    monkeypatch.setattr("analysis.user_values.LOCK_WAIT", "200ms")
    experiment = _experiment(session)
    expose(session, experiment, 0, "x", T)
    end = T + timedelta(hours=1)
    assert _refreshed(session, experiment, end) is not None
    session.commit()
    with Session(engine) as holder:
        holder.get(UserValuesState, experiment.id, with_for_update=True)
        started = time.monotonic()
        stored = _refreshed(session, experiment, end)
        assert stored is None
        assert time.monotonic() - started < 5
        # The session goes on: the report reads the events.
        counts = collect_counts(
            session, experiment_id=experiment.id, window_end=end, pre_start=T
        )
        assert sum(v.users for v in counts.variants.values()) == 1
        holder.rollback()


def test_a_user_touched_during_the_refresh_is_not_stored_twice(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against the refresh's statements seeing different touched users
    (each reads its own snapshot): a stored user with an event committed in
    between made the refresh fail with a duplicate key (break-it pass)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite holds the write lock through the refresh")
    import analysis.user_values as user_values

    experiment = _experiment(session)
    for i in range(10):
        expose(session, experiment, i % 2, f"w{i}", T)
    session.commit()
    end = T + timedelta(hours=1)
    pre_start = T - LOOKBACK
    assert (
        current_values(
            session, experiment=experiment, window_end=end, pre_start=pre_start
        )
        is not None
    )
    session.commit()
    insert_rows(session, [event_row("w0", "purchase", T, value=1.0)])
    session.commit()
    real_query = user_values.user_values_query

    def query_after_another_commit(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("users") is not None:
            with Session(engine) as other:
                insert_rows(other, [event_row("w1", "purchase", T, value=2.0)])
                other.commit()
        return real_query(*args, **kwargs)

    monkeypatch.setattr(user_values, "user_values_query", query_after_another_commit)
    stored = current_values(
        session, experiment=experiment, window_end=end, pre_start=pre_start
    )
    assert stored is not None
    revenue = dict(
        session.execute(select(stored.c.user_id, stored.c.revenue_per_user__y)).all()
    )
    assert (revenue["w0"], revenue["w1"]) == (1.0, 2.0)


def test_events_of_users_outside_the_experiment_touch_nobody(
    session: Session,
) -> None:
    experiment = _experiment(session)
    for i in range(10):
        expose(session, experiment, i % 2, f"w{i}", T)
    end = T + timedelta(hours=1)
    pre_start = T - LOOKBACK
    assert (
        current_values(
            session, experiment=experiment, window_end=end, pre_start=pre_start
        )
        is not None
    )
    table = experiment_user_values
    session.execute(
        update(table).where(table.c.user_id == "w0").values(conversion__y=-1.0)
    )
    # Many more users than the experiment has, none of them in it.
    insert_rows(
        session,
        [event_row(f"out{i}", "purchase", T, value=1.0) for i in range(30)],
    )
    assert (
        current_values(
            session, experiment=experiment, window_end=end, pre_start=pre_start
        )
        is not None
    )
    marker = session.scalar(
        select(table.c.conversion__y).where(table.c.user_id == "w0")
    )
    assert marker == -1.0  # not rebuilt


def test_sqlite_refresh_takes_the_write_lock_before_reading(
    engine: Engine, session: Session, tmp_path: Any
) -> None:
    """Guards against SQLite refusing the refresh's first write ("database is
    locked") when the event writer committed after the refresh began reading."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL reads and writes under row locks")
    import sqlite3

    from analysis.user_values import _sqlite_write_first

    experiment = _experiment(session)
    session.commit()
    with session.begin_nested():
        _sqlite_write_first(session, experiment.id)
        other = sqlite3.connect(engine.url.database or "", timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("DELETE FROM experiment_user_values_state WHERE 0")
        other.close()
