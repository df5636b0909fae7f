"""POST /v1/events through the queue: 202 at once, stored by the writer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.models import Event
from experimentation.settings import Settings
from tests.conftest import REDIS_URL, FakeClock, make_key
from tests.utils.factories import add_catalogue, add_history, flagship_spec
from web.app import create_app


@pytest.fixture(params=["memory", "redis"])
def queued_client(
    request: pytest.FixtureRequest, engine: Engine, database_url: str, clock: FakeClock
) -> Iterator[TestClient]:
    redis_url = REDIS_URL if request.param == "redis" else None
    settings = Settings.model_validate(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "model_refresh_seconds": 0,
            # A stream of its own, so that parallel runs never share entries.
            "event_stream": f"test:events:{uuid4().hex}",
        }
    )
    app = create_app(settings, clock=clock, run_migrations=False)
    state = app.state.splitrec
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {make_key(engine, 'admin')}"
        yield client
    state.writer.stop()
    if redis_url:
        state.events.client.delete(settings.event_stream)


def _count(engine: Engine, event_id: str | None = None) -> int:
    query = select(func.count()).select_from(Event)
    if event_id is not None:
        query = query.where(Event.event_id == event_id)
    with Session(engine) as session:
        return int(session.scalar(query) or 0)


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_queued_events_accepted_then_stored_once(
    queued_client: TestClient, engine: Engine
) -> None:
    batch = [
        {"event_id": f"q{n}", "user_id": "u1", "type": "click", "item_id": "i"}
        for n in range(5)
    ]
    first = queued_client.post("/v1/events", json=batch)
    assert first.status_code == 202
    assert first.json() == {
        "received": 5,
        "queued": True,
        "stored": None,
        "duplicates": None,
    }
    queued_client.post("/v1/events", json=batch[:3])
    _wait_for(lambda: _count(engine) == 5)
    time.sleep(0.2)
    assert _count(engine) == 5


def test_queued_bad_event_refused_before_queueing(
    queued_client: TestClient, engine: Engine
) -> None:
    bad = {"event_id": "b", "user_id": "u1", "type": "purchase", "item_id": "i"}
    response = queued_client.post("/v1/events", json=bad)
    assert response.status_code == 422
    time.sleep(0.2)
    assert _count(engine) == 0


def test_queued_click_reaches_the_next_recommendation(
    queued_client: TestClient, engine: Engine
) -> None:
    """After a click is stored, the user's cached list is gone and the clicked
    item is no longer recommended to them."""
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    queued_client.post("/v1/experiments", json=flagship_spec())
    queued_client.post("/v1/experiments/rec-algorithm-v2/start")
    params = {"user_id": "u4", "experiment": "rec-algorithm-v2"}
    first = queued_client.get("/v1/recommendations", params=params).json()
    clicked = first["items"][0]["item_id"]
    queued_client.post(
        "/v1/events",
        json={"event_id": "c1", "user_id": "u4", "type": "click", "item_id": clicked},
    )
    _wait_for(lambda: _count(engine, "c1") == 1)
    assert _count(engine, "c1") == 1
    deadline = time.monotonic() + 5
    while True:
        body = queued_client.get("/v1/recommendations", params=params).json()
        if clicked not in {i["item_id"] for i in body["items"]}:
            break
        assert time.monotonic() < deadline, "the click never reached the list"
        time.sleep(0.01)
    assert body["from_cache"] is False
