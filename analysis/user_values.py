"""Per-user metric values of an experiment, stored and brought up to date
incrementally, so that a report reads one row per user instead of every event.

A report of a running experiment at 10M events spends its time joining and
grouping the events; its users change far more slowly. So the values of
`analysis.metrics.user_values_query` are kept in `experiment_user_values`, and
each report first recomputes the users that something happened to since the
last refresh (an event or an exposure, or an event dated inside the newly
covered stretch of the window), from their whole history. Recomputing whole
users rather than adding increments keeps the stored values equal to what the
direct query gives, whatever order events arrive in.

Which events are new is told by id. An id is taken when a row is inserted but
becomes visible only at commit, so a lower id can appear after a higher one
has been read. The watermark therefore moves only when no other transaction is
writing to the table between reading its largest id and checking; otherwise the
users after the old watermark are recomputed again next time (SQLite has one
writer at a time, so it always moves there).

Events are append-only: whatever deletes events must call `forget_all` (the
demo's rerun does). A report for an earlier window than the stored one (a
trend's past days), or with another lookback, is computed from the events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    FromClause,
    Select,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    true,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from analysis.metrics import user_values_query
from analysis.trend_points import store_closed_days
from experimentation.models import (
    USER_VALUE_COLUMNS,
    Event,
    Experiment,
    Exposure,
    TrendPoint,
    UserValuesState,
    experiment_user_values,
)

log = logging.getLogger(__name__)

_OUTCOME_TYPES = ("impression", "click", "purchase", "session_end")
_REBUILD_SHARE = 0.5
"""Above this share of the stored users touched, recompute everyone at once."""
LOCK_WAIT = "10s"
"""How long a report waits for another refresh of the same experiment."""
_SETTLE_TRIES = 50
_SETTLE_PAUSE_SECONDS = 0.01


def current_values(
    session: Session,
    *,
    experiment: Experiment,
    window_end: datetime,
    pre_start: datetime,
) -> FromClause | None:
    """The experiment's stored per-user values, refreshed up to `window_end`.

    None when they cannot serve this window (an earlier one than stored, an
    experiment not started) or when the refresh failed; the caller then
    computes from the events. The refresh is written in the caller's
    transaction (a savepoint), so it lasts if the caller commits.
    """
    if experiment.started_at is None:
        return None
    try:
        with session.begin_nested():
            refreshed = _refresh(session, experiment, window_end, pre_start)
    except (IntegrityError, DBAPIError) as error:
        # Another report refreshing at the same time, or SQLite's writer
        # busy: this report reads the events instead.
        log.warning(
            "stored user values not refreshed",
            extra={"experiment": experiment.key, "error": str(error)[:200]},
        )
        return None
    if not refreshed:
        return None
    table = experiment_user_values
    return (
        select(table)
        .where(table.c.experiment_id == experiment.id)
        .subquery("stored_values")
    )


def refresh_running(session: Session, *, now: datetime, lookback: timedelta) -> int:
    """Bring the stored values of every running experiment up to `now`, so
    that the next report reads only what arrives after; returns how many
    experiments were refreshed. Run it on a schedule (`splitrec refresh`).

    Commits after each experiment: a report of one experiment waits only for
    that experiment's refresh, not for all of them.
    """
    refreshed = 0
    running = select(Experiment).where(Experiment.status == "running")
    for experiment in session.scalars(running).all():
        assert experiment.started_at is not None
        stored = current_values(
            session,
            experiment=experiment,
            window_end=now,
            pre_start=experiment.started_at - lookback,
        )
        refreshed += stored is not None
        # The trends' settled days, so that no page view counts them.
        store_closed_days(session, experiment, now)
        session.commit()
    return refreshed


def forget_all(session: Session) -> None:
    """Drop every experiment's stored values and trend points (events were
    deleted)."""
    session.execute(delete(experiment_user_values))
    session.execute(delete(UserValuesState))
    session.execute(delete(TrendPoint))


def _refresh(
    session: Session, experiment: Experiment, window_end: datetime, pre_start: datetime
) -> bool:
    started = time.perf_counter()
    assert experiment.started_at is not None
    _sqlite_write_first(session, experiment.id)
    # One refresh at a time per experiment; a report that waits longer than
    # LOCK_WAIT (a refresh of every event, or a transaction left open) reads
    # the events instead.
    with _postgres_settings(session, lock_timeout=LOCK_WAIT):
        state = session.get(UserValuesState, experiment.id, with_for_update=True)
    if state is not None and (
        state.started_at != experiment.started_at or state.pre_start != pre_start
    ):
        if pre_start != state.pre_start and state.started_at == experiment.started_at:
            # Another lookback than the stored one: a one-off question.
            return False
        session.delete(state)
        session.flush()
        state = None
    if state is not None and window_end < state.window_end:
        return False
    event_mark, exposure_mark, settled = _watermarks(session)
    table = experiment_user_values
    mine = table.c.experiment_id == experiment.id
    if state is None:
        touched_count = None
    else:
        touched = _touched_users(experiment.id, state, window_end)
        touched_count = session.scalar(select(func.count()).select_from(touched))
        stored_count = session.scalar(
            select(func.count()).select_from(table).where(mine)
        )
        if touched_count and touched_count > _REBUILD_SHARE * (stored_count or 0):
            touched_count = None
    if touched_count is None:
        session.execute(delete(table).where(mine))
        _upsert(
            session,
            experiment.id,
            user_values_query(experiment.id, window_end, pre_start),
        )
        _analyse(session)
    elif touched_count:
        # Replaced in place rather than deleted and inserted again: each
        # statement reads with its own snapshot, so a user touched between
        # the two would be inserted while still stored.
        users = select(touched.c.user_id)
        # With its default random_page_cost (priced for spinning disks)
        # PostgreSQL reads all the events to find a tenth of the users',
        # several times slower on a warm cache than the covering index. Only
        # for this statement: for the whole table the sequential plan is right.
        with _postgres_settings(session, random_page_cost="1.1"):
            _upsert(
                session,
                experiment.id,
                user_values_query(experiment.id, window_end, pre_start, users=users),
            )
    if state is None:
        state = UserValuesState(
            experiment_id=experiment.id,
            started_at=experiment.started_at,
            pre_start=pre_start,
            event_watermark=0,
            exposure_watermark=0,
        )
        session.add(state)
    if settled:
        state.event_watermark = event_mark
        state.exposure_watermark = exposure_mark
    state.window_end = window_end
    state.refreshed_at = datetime.now(UTC)
    session.flush()
    log.info(
        "stored user values refreshed",
        extra={
            "experiment": experiment.key,
            "users": "all" if touched_count is None else touched_count,
            "settled": settled,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return True


def _touched_users(
    experiment_id: int, state: UserValuesState, window_end: datetime
) -> FromClause:
    """Users with anything new since the state: events or exposures after its
    watermarks, or dated between its window's end and the new one."""
    newly_covered = (state.window_end, window_end)
    stored = experiment_user_values
    # Only the experiment's stored users: anyone else it has exposed since is
    # among the new exposures, and everyone else's events do not count here.
    events = select(Event.user_id).where(
        or_(
            Event.id > state.event_watermark,
            Event.occurred_at.between(*newly_covered) & Event.type.in_(_OUTCOME_TYPES),
        ),
        Event.user_id.in_(
            select(stored.c.user_id).where(stored.c.experiment_id == experiment_id)
        ),
    )
    exposures = select(Exposure.user_id).where(
        Exposure.experiment_id == experiment_id,
        or_(
            Exposure.id > state.exposure_watermark,
            Exposure.served_at.between(*newly_covered),
        ),
    )
    return union(events, exposures).subquery("touched")


def _upsert(session: Session, experiment_id: int, values: Select[Any]) -> None:
    """Insert the rows, replacing those of users already stored."""
    columns = ["experiment_id", "user_id", "variant_id", *USER_VALUE_COLUMNS]
    rows = values.subquery("new_values")
    # WHERE true: SQLite would read ON CONFLICT as a join's ON without it.
    source = select(literal(experiment_id), *rows.c).where(true())
    make = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = make(experiment_user_values).from_select(columns, source)
    statement = statement.on_conflict_do_update(
        index_elements=["experiment_id", "user_id"],
        set_={name: statement.excluded[name] for name in columns[2:]},
    )
    session.execute(statement)


def _sqlite_write_first(session: Session, experiment_id: int) -> None:
    """On SQLite, take the write lock before reading anything.

    A transaction that reads and then writes is refused ("database is locked")
    if another connection wrote in between, which the event writer does all
    the time; one that writes first waits its turn and then reads and writes
    one consistent state.
    """
    if _dialect(session) != "sqlite":
        return
    session.execute(
        update(UserValuesState)
        .where(UserValuesState.experiment_id == experiment_id)
        .values(experiment_id=UserValuesState.experiment_id)
        .execution_options(synchronize_session=False)
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _watermarks(session: Session) -> tuple[int, int, bool]:
    """The largest event and exposure ids visible, and whether every lower id
    is settled (committed or never to be). Writers commit within milliseconds,
    so a short wait usually finds a moment when none is in flight."""
    for _ in range(_SETTLE_TRIES):
        event_mark = session.scalar(select(func.coalesce(func.max(Event.id), 0)))
        exposure_mark = session.scalar(select(func.coalesce(func.max(Exposure.id), 0)))
        if _no_other_writers(session):
            return int(event_mark or 0), int(exposure_mark or 0), True
        time.sleep(_SETTLE_PAUSE_SECONDS)
    return int(event_mark or 0), int(exposure_mark or 0), False


def _no_other_writers(session: Session) -> bool:
    """True when no other transaction may still commit events or exposures
    with ids below those already visible."""
    if _dialect(session) != "postgresql":
        return True  # SQLite: one writer at a time, ids grow with commits
    busy = session.scalar(
        text(
            # Only this database's tables: the same server may hold others
            # (other deployments, test runs) with tables of the same names.
            "SELECT count(*) FROM pg_locks l "
            "WHERE l.relation IN ('events'::regclass, 'exposures'::regclass) "
            "AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) "
            "AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()"
        )
    )
    return not busy


@contextmanager
def _postgres_settings(session: Session, **settings: str) -> Iterator[None]:
    """Planner or lock settings for the statements inside, on PostgreSQL.

    An error inside leaves them set, but the savepoint `current_values` opens
    is then rolled back, and that undoes them too.
    """
    if _dialect(session) != "postgresql":
        yield
        return
    before = {
        name: session.scalar(text("SELECT current_setting(:name)"), {"name": name})
        for name in settings
    }
    for name, value in settings.items():
        _set_local(session, name, value)
    yield
    for name, value in before.items():
        _set_local(session, name, str(value))


def _set_local(session: Session, name: str, value: str) -> None:
    session.execute(
        text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
    )


def _analyse(session: Session) -> None:
    """Planner statistics for the freshly filled table (PostgreSQL guesses
    badly for a table it has never analysed)."""
    if _dialect(session) == "postgresql":
        session.execute(text("ANALYZE experiment_user_values"))
