"""The full report at scale on PostgreSQL: 1,000,000 users, 10,000,000 events.

Builds its own database (``splitrec_bench_analysis`` by default), generates
users, exposures and events with ``generate_series``, then times
``build_report`` (four metrics, CUPED, SRM, segments) at 1,000,000 events and
again after growing the events to 10,000,000. At each size it times the report
read straight from the events, the first report that stores the per-user
values (analysis/user_values.py), a report after 100,000 more events and
10,000 more exposures (a few hours of this experiment's traffic), and one with
nothing new. Each report runs in a fresh Python process, so its peak memory
(ru_maxrss, and tracemalloc's peak of the report alone) is its own: it must
not grow with the number of events.

    .venv/bin/python bench/analysis_scale.py [--users 1000000] [--events 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from analysis.report import build_report
from analysis.settings import AnalysisSettings
from experimentation.experiments import create_experiment, start_experiment
from experimentation.models import Base
from experimentation.spec import ExperimentSpec

ADMIN = "postgresql://root@127.0.0.1:5432/test"
START = datetime(2026, 11, 1, tzinfo=UTC)
KEY = "scale-test"
# Outcome kinds by bucket of 100: after exposure, with the exposure's
# request_id for impressions and clicks; the last buckets are pre-exposure.
EVENTS_SQL = """
INSERT INTO events (event_id, user_id, item_id, type, value, dwell_seconds,
                    session_id, request_id, query, occurred_at, received_at)
SELECT 'e' || g, 'u' || u,
       'i' || (g % 1682),
       kind,
       CASE WHEN kind = 'purchase' THEN 1 + (g % 13) * (1 + (g % 7 = 0)::int * 9)
       END,
       CASE WHEN kind = 'session_end' THEN 30 + (g % 600) END,
       NULL,
       CASE WHEN kind IN ('impression', 'click') AND NOT pre THEN 'r' || u END,
       NULL, at, at
FROM (
    SELECT g, u, b >= 88 AS pre,
           CASE WHEN b < 60 OR b BETWEEN 88 AND 93 THEN 'impression'
                WHEN b < 66 OR b BETWEEN 94 AND 95 THEN 'click'
                WHEN b < 71 OR b = 96 THEN 'purchase'
                ELSE 'session_end' END AS kind,
           CASE WHEN b >= 88
                THEN first_at - make_interval(secs => 60 + g % 600000)
                ELSE first_at + make_interval(secs => g % 86400) END AS at
    FROM (
        SELECT g, (g * 7919) % :users AS u, (g * 31 + g / 7) % 100 AS b,
               :start + make_interval(secs => ((g * 7919) % :users) * 37 % 1209600)
                 AS first_at
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
    ) s
) t
"""


def _url(database: str) -> str:
    return f"postgresql+psycopg://root@127.0.0.1:5432/{database}"


def _create_database(database: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')


def _timed(connection: object, label: str, sql: str, **params: object) -> None:
    started = time.perf_counter()
    connection.execute(text(sql), params)  # type: ignore[attr-defined]
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def _setup(database: str, users: int) -> None:
    """Schema, the experiment, users and exposures (a few users see both arms)."""
    _create_database(database)
    engine = create_engine(_url(database))
    Base.metadata.create_all(engine)
    spec = {
        "id": KEY,
        "variants": {
            "control": {"type": "popularity"},
            "treatment": {"type": "popularity"},
        },
        "metrics": [
            "click_through_rate",
            "conversion",
            "avg_session_duration",
            "revenue_per_user",
        ],
        "sampleSize": users,
        "minimumDuration": "14d",
    }
    with Session(engine) as session:
        experiment = create_experiment(
            session, spec=ExperimentSpec.model_validate(spec), now=START
        )
        start_experiment(session, key=KEY, now=START)
        session.commit()
        experiment_id = experiment.id
        control, treatment = (v.id for v in experiment.variants)
    with engine.begin() as c:
        _timed(
            c,
            f"{users:,} users",
            "INSERT INTO users (user_id, attributes, created_at) "
            "SELECT 'u' || g, json_build_object('gender', "
            "CASE WHEN g % 3 = 0 THEN 'F' ELSE 'M' END, 'age', 15 + g % 55), :start "
            "FROM generate_series(0, :n - 1) AS g",
            n=users,
            start=START,
        )
        _timed(
            c,
            "exposures",
            "INSERT INTO exposures (experiment_id, variant_id, user_id, request_id, "
            "page, items, from_cache, served_at, category_entropy, fresh_share, "
            "mean_popularity_rank, latency_ms) "
            "SELECT :e, CASE WHEN hashtext('u' || g) % 2 = 0 THEN :c ELSE :t END, "
            "'u' || g, 'r' || g, 'home', '[]', false, "
            ":start + make_interval(secs => g * 37 % 1209600), "
            "1 + (g % 100) / 50.0, (g % 10) / 10.0, 100 + g % 900, 5 + g % 20 "
            "FROM generate_series(0, :n - 1) AS g",
            e=experiment_id,
            c=control,
            t=treatment,
            n=users,
            start=START,
        )
        _timed(
            c,
            "repeat and cross-arm exposures",
            "INSERT INTO exposures (experiment_id, variant_id, user_id, request_id, "
            "page, items, from_cache, served_at, category_entropy, fresh_share, "
            "mean_popularity_rank, latency_ms) "
            "SELECT :e, CASE WHEN g % 1000 = 0 THEN (CASE WHEN hashtext('u' || g) "
            "% 2 = 0 THEN :t ELSE :c END) ELSE (CASE WHEN hashtext('u' || g) % 2 = 0 "
            "THEN :c ELSE :t END) END, 'u' || g, 'r2-' || g, 'home', '[]', true, "
            ":start + make_interval(secs => g * 37 % 1209600 + 3600), "
            "2.0, 0.5, 500, 3 FROM generate_series(0, :n - 1, 3) AS g",
            e=experiment_id,
            c=control,
            t=treatment,
            n=users,
            start=START,
        )
    engine.dispose()


_INDEXES = (
    (
        "ix_events_user_occurred",
        "events (user_id, occurred_at) "
        "INCLUDE (type, value, dwell_seconds, request_id)",
    ),
    ("ix_events_request", "events (request_id)"),
    ("ix_events_type_occurred", "events (type, occurred_at)"),
    ("ix_exposures_experiment_user", "exposures (experiment_id, user_id, served_at)"),
)


def _add_events(database: str, users: int, lo: int, hi: int) -> None:
    """Loads events with the indexes dropped (random inserts into a 10M-row
    index are slow); ``_index_and_analyse`` builds them again."""
    engine = create_engine(_url(database))
    with engine.begin() as c:
        c.execute(
            text("ALTER TABLE events DROP CONSTRAINT IF EXISTS events_event_id_key")
        )
        for index, _ in _INDEXES:
            c.execute(text(f"DROP INDEX IF EXISTS {index}"))
        _timed(
            c,
            f"events {lo:,}..{hi:,}",
            EVENTS_SQL,
            users=users,
            start=START,
            lo=lo,
            hi=hi - 1,
        )
    engine.dispose()


def _index_and_analyse(database: str) -> None:
    """The model's indexes again; the event_id unique constraint stays dropped
    (the report never reads event_id, and rebuilding it costs minutes)."""
    engine = create_engine(_url(database))
    with engine.begin() as c:
        for index, ddl in _INDEXES:
            _timed(c, f"index {index}", f"CREATE INDEX {index} ON {ddl}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        _timed(c, "VACUUM ANALYZE", "VACUUM ANALYZE")
    engine.dispose()


def _more_traffic(database: str, users: int, events: int) -> None:
    """100,000 more events after the first `events`, and 10,000 more exposures
    (repeat visits), inserted with the indexes in place as serving would."""
    engine = create_engine(_url(database))
    with engine.begin() as c:
        _timed(
            c,
            "100,000 more events",
            EVENTS_SQL,
            users=users,
            start=START,
            lo=events,
            hi=events + 99_999,
        )
        _timed(
            c,
            "10,000 more exposures",
            "INSERT INTO exposures (experiment_id, variant_id, user_id, request_id, "
            "page, items, from_cache, served_at, category_entropy, fresh_share, "
            "mean_popularity_rank, latency_ms) "
            "SELECT x.experiment_id, x.variant_id, x.user_id, "
            "'r3-' || :events || '-' || x.id, 'home', '[]', true, "
            "x.served_at + interval '2 hours', 1.5, 0.5, 300, 4 "
            "FROM exposures x WHERE x.request_id LIKE 'r%' "
            "AND x.request_id NOT LIKE 'r2-%' AND x.request_id NOT LIKE 'r3-%' "
            "ORDER BY x.id LIMIT 10000",
            events=events,
        )
    engine.dispose()


def _measure(database: str, segments: bool, stored: bool) -> dict[str, float]:
    """Runs in a child process: one report, its time and peak memory."""
    engine = create_engine(_url(database))
    settings = AnalysisSettings() if segments else AnalysisSettings(segments=())
    with Session(engine) as session:
        session.execute(text("SELECT 1"))  # connect outside the timing
        tracemalloc.start()
        started = time.perf_counter()
        report = build_report(
            session,
            key=KEY,
            now=START + timedelta(days=15),
            settings=settings,
            stored_values=stored,
        )
        session.commit()  # the stored values, as the API does
        seconds = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "seconds": seconds,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_peak_mb": traced_peak / 2**20,
        "users": float(report.progress.users),
        "excluded": float(report.excluded_users),
        "srm_p": report.srm.p_value,
    }


def _report_in_child(
    database: str, segments: bool, stored: bool = True
) -> dict[str, float]:
    args = [sys.executable, __file__, "--measure", "--database", database]
    if not segments:
        args.append("--no-segments")
    if not stored:
        args.append("--from-events")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _print(events: int, label: str, r: dict[str, float]) -> None:
    load = os.getloadavg()[0]
    print(
        f"{events:>12,} events  {label:<34} {r['seconds']:6.2f} s   "
        f"peak RSS {r['max_rss_mb']:6.1f} MB   report allocations peak "
        f"{r['traced_peak_mb']:5.2f} MB   users {int(r['users']):,} "
        f"(excluded {int(r['excluded']):,})  load {load:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="splitrec_bench_analysis")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-segments", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--from-events", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        result = _measure(args.database, not args.no_segments, not args.from_events)
        print(json.dumps(result))
        return
    print(f"setting up {args.database}: {args.users:,} users", flush=True)
    _setup(args.database, args.users)
    done = 0
    for size in (args.users, args.events):
        _clear_stored_values(args.database)
        _add_events(args.database, args.users, done, size)
        done = size
        _index_and_analyse(args.database)
        _report_in_child(args.database, False, stored=False)  # warm the cache
        _print(size, "from the events", _report_in_child(args.database, False, False))
        _print(
            size,
            "first, storing per-user values",
            _report_in_child(args.database, False),
        )
        _more_traffic(args.database, args.users, done)
        done += 100_000
        _print(
            done,
            "stored, +100k events +10k exposures",
            _report_in_child(args.database, False),
        )
        _print(done, "stored, nothing new", _report_in_child(args.database, False))
        _print(done, "stored, with segments", _report_in_child(args.database, True))


def _clear_stored_values(database: str) -> None:
    engine = create_engine(_url(database))
    with engine.begin() as c:
        c.execute(text("DELETE FROM experiment_user_values"))
        c.execute(text("DELETE FROM experiment_user_values_state"))
    engine.dispose()


if __name__ == "__main__":
    main()
