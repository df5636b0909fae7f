"""The main job: import MovieLens 100K, run the flagship experiment on simulated
app traffic through the real API, and print (then serve) its report.

Running it again is safe: the demo's experiment and the events it simulated
("demo-" ids) are replaced; imported data is skipped by id.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from analysis import user_values
from analysis.render import render_text
from analysis.report import Report, build_report
from experimentation import accounts, movielens
from experimentation.db import (
    engine_for,
    migrate,
    refresh_statistics,
    session_scope,
)
from experimentation.durations import parse_duration
from experimentation.errors import InvalidInput, NotFound
from experimentation.events import insert_rows
from experimentation.experiments import delete_experiment
from experimentation.importers import import_movielens
from experimentation.ingest import EventWriter
from experimentation.models import Account, Event, User
from experimentation.settings import Settings
from web.app import create_app
from web.simulation import (
    WATCH_PER_SESSION,
    K,
    SimUser,
    dwell_seconds,
    plan_sessions,
    price_of,
)
from web.state import utc_now

log = logging.getLogger(__name__)

FLAGSHIP: dict[str, Any] = {
    "id": "rec-algorithm-v2",
    "name": "Hybrid recommender v2",
    "hypothesis": "A hybrid of content and collaborative scores (alpha 0.7) "
    "lifts engagement over the most-popular list.",
    "variants": {
        "control": {"type": "popularity", "name": "Most Popular"},
        "treatment": {"type": "hybrid", "alpha": 0.7, "name": "Hybrid V2"},
    },
    "metrics": [
        "click_through_rate",
        "conversion",
        "avg_session_duration",
        "revenue_per_user",
    ],
    "sampleSize": 10000,
    "minimumDuration": "7d",
    # Fixed so that a rerun assigns every user as before.
    "salt": "splitrec-demo",
}
# The documented demo account (README): signs in to the web app the demo serves.
DEMO_EMAIL = "demo@splitrec.local"
DEMO_PASSWORD = "splitrec-demo"
DEMO_KEYS = {"editor": "demo setup", "app": "demo app"}
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# Below the API batch limit (1,000) by more than one session's events.
FLUSH_EVENTS = 800


def find_data(explicit: Path | None, settings: Settings) -> Path:
    """The MovieLens 100K location: given, $SPLITREC_DATA, ../shared/data, download."""
    candidates = [explicit, settings.data]
    candidates += [
        Path.cwd().parent / "shared" / "data" / "ml-100k",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k",
    ]
    for candidate in candidates:
        if candidate is not None and candidate.exists():
            return candidate
    if explicit is not None or settings.data is not None:
        raise InvalidInput(f"no MovieLens 100K at {explicit or settings.data}")
    target = Path("data") / "ml-100k.zip"
    if not target.exists():
        target.parent.mkdir(exist_ok=True)
        log.info("downloading MovieLens 100K", extra={"url": GROUPLENS_URL})
        urllib.request.urlretrieve(GROUPLENS_URL, target)
    return target


class SimClock:
    """The app's clock during the replay: simulated time, moved by the demo."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class DemoSummary:
    users: int
    requests: int
    events_sent: int


def run_demo(
    settings: Settings,
    data: Path,
    *,
    seed: int | None = None,
    sample_size: int | None = None,
) -> Report:
    """Run the flagship experiment; sample_size shrinks it (tests use that)."""
    seed = settings.seed if seed is None else seed
    spec = dict(FLAGSHIP)
    if sample_size is not None:
        spec["sampleSize"] = sample_size
    rng = np.random.default_rng(seed)
    engine = engine_for(settings.database_url)
    migrate(engine)
    ml = movielens.load(data)
    train, test = movielens.temporal_split(ml.ratings)
    real_now = utc_now()
    with session_scope(engine) as session:
        _refuse_full_history(session, ml.ratings, test)
        result = import_movielens(
            session, data, now=real_now, history_only=True, progress=True
        )
        print(f"imported MovieLens history: {result}")
        _reset_previous_run(session)
        keys = _demo_access(session, now=real_now)
    users = _population(engine, ml, train, test, spec["sampleSize"], rng, real_now)

    duration = timedelta(seconds=parse_duration(FLAGSHIP["minimumDuration"]))
    start = real_now - duration - timedelta(hours=1)
    clock = SimClock(start)
    app = create_app(settings, clock=clock, run_migrations=False)
    years = {m.item_id: m.year for m in ml.movies}
    summary = asyncio.run(
        _drive(app, spec, keys, clock, users, start, duration, years, rng)
    )
    with session_scope(engine) as session:
        refresh_statistics(session)
        stored = session.scalar(
            select(func.count()).where(Event.event_id.like("demo-%"))
        )
    print(
        f"replayed {summary.requests:,} recommendation requests for "
        f"{summary.users:,} users; events sent {summary.events_sent:,}, "
        f"stored {stored:,}"
    )
    with session_scope(engine) as session:
        return build_report(session, key=FLAGSHIP["id"], now=utc_now())


async def _drive(
    app: Any,
    spec: dict[str, Any],
    keys: dict[str, str],
    clock: SimClock,
    users: list[SimUser],
    start: datetime,
    duration: timedelta,
    years: dict[str, int | None],
    rng: np.random.Generator,
) -> DemoSummary:
    """The simulated app, talking HTTP to the real API in process."""
    transport = httpx2.ASGITransport(app=app)
    # The app's own key (recommendations and events) goes on every request;
    # setting the experiment up takes an editor key.
    async with httpx2.AsyncClient(
        transport=transport,
        base_url="http://demo",
        headers={"Authorization": f"Bearer {keys['app']}"},
    ) as client:
        editor = {"Authorization": f"Bearer {keys['editor']}"}
        await _call(client, "POST", "/v1/experiments", json=spec, headers=editor)
        await _call(
            client, "POST", f"/v1/experiments/{spec['id']}/start", headers=editor
        )
        writer = app.state.splitrec.writer
        return await _replay(client, writer, clock, users, start, duration, years, rng)


async def _call(
    client: httpx2.AsyncClient, method: str, url: str, **kwargs: Any
) -> Any:
    response = await client.request(method, url, **kwargs)
    if response.status_code >= 400:
        raise RuntimeError(
            f"{method} {url} failed: {response.status_code} {response.text}"
        )
    return response.json()


def _refuse_full_history(
    session: Session, ratings: movielens.Ratings, test: np.ndarray
) -> None:
    sample = [
        f"ml-{u}-{i}"
        for u, i in zip(
            ratings.user_id[test][:50], ratings.item_id[test][:50], strict=True
        )
    ]
    if session.scalar(select(Event.id).where(Event.event_id.in_(sample)).limit(1)):
        raise InvalidInput(
            "this database already holds all of MovieLens (splitrec import movielens), "
            "including the ratings the demo replays as future traffic; run the demo "
            "on a fresh database, e.g. DATABASE_URL=sqlite:///demo.db"
        )


def _demo_access(session: Session, *, now: datetime) -> dict[str, str]:
    """The demo account (if missing) and fresh demo keys; the old ones revoked."""
    if not session.scalar(select(Account.id).where(Account.email == DEMO_EMAIL)):
        accounts.create_account(
            session,
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            role="admin",
            name="Demo",
            now=now,
        )
    secrets = {}
    for scope, name in DEMO_KEYS.items():
        accounts.revoke_keys_named(session, name=name, now=now)
        secrets[scope], _ = accounts.create_key(
            session, name=name, scope=scope, now=now
        )
    return secrets


def _reset_previous_run(session: Session) -> None:
    try:
        delete_experiment(session, key=FLAGSHIP["id"])
        print(f"replaced the previous run of {FLAGSHIP['id']}")
    except NotFound:
        pass
    session.execute(delete(Event).where(Event.event_id.like("demo-%")))
    user_values.forget_all(session)  # they counted the deleted events


def _population(
    engine: Any,
    ml: movielens.MovieLens,
    train: np.ndarray,
    test: np.ndarray,
    size: int,
    rng: np.random.Generator,
    now: datetime,
) -> list[SimUser]:
    """The real users, then resampled copies (new ids, real histories)."""
    ratings = ml.ratings
    order = np.lexsort((ratings.item_id, ratings.timestamp))
    future: dict[str, dict[str, int]] = {u.user_id: {} for u in ml.users}
    for row in order[test[order]]:
        future[str(ratings.user_id[row])][str(ratings.item_id[row])] = int(
            ratings.rating[row]
        )
    real = [u.user_id for u in ml.users]
    users = [SimUser(u, u, dict(future[u])) for u in real]
    sources = rng.choice(len(real), size=max(0, size - len(real)), replace=True)
    clones = [
        SimUser(f"sim-{n:05d}", real[s], dict(future[real[s]]))
        for n, s in enumerate(sources)
    ]
    attributes = {u.user_id: u for u in ml.users}
    by_user: dict[str, np.ndarray] = {}
    train_rows = np.flatnonzero(train)
    user_of = ratings.user_id[train_rows]
    for source in {c.source for c in clones}:
        by_user[source] = train_rows[user_of == int(source)]
    with session_scope(engine) as session:
        existing = set(
            session.scalars(select(User.user_id).where(User.user_id.like("sim-%")))
        )
        new = [c for c in clones if c.user_id not in existing]
        session.add_all(
            User(
                user_id=c.user_id,
                attributes={
                    "age": attributes[c.source].age,
                    "gender": attributes[c.source].gender,
                    "occupation": attributes[c.source].occupation,
                    "resampled_from": c.source,
                },
                created_at=now,
            )
            for c in new
        )
        for clone in tqdm(new, desc="resampled users", unit="user"):
            rows = by_user[clone.source]
            insert_rows(
                session,
                [
                    {
                        "event_id": f"ml-{clone.user_id}-{ratings.item_id[r]}",
                        "user_id": clone.user_id,
                        "item_id": str(ratings.item_id[r]),
                        "type": "rating",
                        "value": float(ratings.rating[r]),
                        "dwell_seconds": None,
                        "session_id": None,
                        "request_id": None,
                        "query": None,
                        "occurred_at": datetime.fromtimestamp(
                            int(ratings.timestamp[r]), tz=now.tzinfo
                        ),
                        "received_at": now,
                    }
                    for r in rows
                ],
            )
    return users + clones


async def _replay(
    client: httpx2.AsyncClient,
    writer: EventWriter | None,
    clock: SimClock,
    users: list[SimUser],
    start: datetime,
    duration: timedelta,
    years: dict[str, int | None],
    rng: np.random.Generator,
) -> DemoSummary:
    plan = plan_sessions(users, start, duration, rng)
    buffer: list[dict[str, Any]] = []
    pending: set[str] = set()
    sent = requests = 0

    async def flush() -> None:
        nonlocal sent
        if buffer:
            await _call(client, "POST", "/v1/events", json=buffer)
            sent += len(buffer)
            buffer.clear()
            pending.clear()
            if writer is not None:
                # The next session of these users must see what they did, as
                # a real app's users would a moment later.
                writer.drain()

    session_numbers: dict[str, int] = {}
    for moment, user in tqdm(plan, desc="replay", unit="session"):
        if user.user_id in pending:
            await flush()
        clock.now = moment
        number = session_numbers[user.user_id] = (
            session_numbers.get(user.user_id, 0) + 1
        )
        session = _SimSession(f"demo-{user.user_id}-{number}", user.user_id, moment)
        session.add("session_start", "start")
        served = await _call(
            client,
            "GET",
            "/v1/recommendations",
            params={"user_id": user.user_id, "experiment": FLAGSHIP["id"], "k": K},
        )
        requests += 1
        if _act(session, user, served, years, rng):
            pending.add(user.user_id)
        buffer.extend(session.events)
        if len(buffer) >= FLUSH_EVENTS:
            await flush()
    await flush()
    return DemoSummary(users=len(users), requests=requests, events_sent=sent)


class _SimSession:
    """The events of one simulated session, stamped on the simulated clock."""

    def __init__(self, prefix: str, user_id: str, start: datetime) -> None:
        self.prefix = prefix
        self.user_id = user_id
        self.start = start
        self.at = start
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, suffix: str, **fields: Any) -> None:
        self.events.append(
            {
                "event_id": f"{self.prefix}-{suffix}",
                "user_id": self.user_id,
                "type": kind,
                "session_id": self.prefix,
                "occurred_at": self.at.isoformat(),
                **fields,
            }
        )


def _act(
    session: _SimSession,
    user: SimUser,
    served: dict[str, Any],
    years: dict[str, int | None],
    rng: np.random.Generator,
) -> bool:
    """The user's reaction to a served list; True if their profile changed."""
    request_id = served["request_id"]
    length = 30.0
    changed = False
    for entry in served["items"]:
        item = entry["item_id"]
        session.add("impression", f"imp-{item}", item_id=item, request_id=request_id)
        length += 5.0
        stars = user.future.pop(item, None)
        if stars is None:
            continue
        session.at += timedelta(seconds=5)
        session.add("click", f"click-{item}", item_id=item, request_id=request_id)
        dwell = dwell_seconds(stars, rng)
        length += dwell
        session.add(
            "view",
            f"view-{item}",
            item_id=item,
            dwell_seconds=dwell,
            request_id=request_id,
        )
        if stars >= 4:
            session.add(
                "purchase", f"buy-{item}", item_id=item, value=price_of(years.get(item))
            )
        changed = True
    for item in list(user.future)[:WATCH_PER_SESSION]:
        stars = user.future.pop(item)
        dwell = dwell_seconds(stars, rng)
        length += dwell
        session.add("view", f"watch-{item}", item_id=item, dwell_seconds=dwell)
        changed = True
    session.at = session.start + timedelta(seconds=length)
    session.add("session_end", "end", dwell_seconds=round(length, 1))
    return changed


def print_report(report: Report) -> None:
    print()
    print(render_text(report))
    print(f"\nweb app: sign in as {DEMO_EMAIL} with password {DEMO_PASSWORD}")
