"""Redis dies mid-traffic: serving goes on uncached, no event is lost."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.models import Event
from experimentation.settings import Settings
from tests.conftest import FakeClock, make_key
from tests.utils.factories import add_catalogue, add_history, flagship_spec
from web.app import create_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A Redis of this test's own, which it may kill."""
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield server, url
    server.kill()
    server.wait()


def test_redis_killed_mid_traffic_serving_and_events_survive(
    engine: Engine,
    database_url: str,
    clock: FakeClock,
    private_redis: tuple[subprocess.Popen[bytes], str],
) -> None:
    server, url = private_redis
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    settings = Settings.model_validate(
        {"DATABASE_URL": database_url, "REDIS_URL": url, "model_refresh_seconds": 0}
    )
    app = create_app(settings, clock=clock, run_migrations=False)
    writer = app.state.splitrec.writer
    sent = 0
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {make_key(engine, 'admin')}"
        client.post("/v1/experiments", json=flagship_spec())
        client.post("/v1/experiments/rec-algorithm-v2/start")

        def traffic(round_: int) -> None:
            nonlocal sent
            for u in range(10):
                params = {"user_id": f"u{u}", "experiment": "rec-algorithm-v2"}
                response = client.get("/v1/recommendations", params=params)
                assert response.status_code == 200, response.text
                item = response.json()["items"][0]["item_id"]
                events = [
                    {
                        "event_id": f"o-{round_}-{u}-{kind}",
                        "user_id": f"u{u}",
                        "type": kind,
                        "item_id": item,
                    }
                    for kind in ("impression", "click")
                ]
                assert client.post("/v1/events", json=events).status_code in (200, 202)
                sent += len(events)

        traffic(0)
        writer.drain()
        server.kill()
        server.wait()
        traffic(1)
        traffic(2)
    writer.stop()
    with Session(engine) as session:
        stored = session.scalar(select(func.count()).where(Event.event_id.like("o-%")))
    assert stored == sent == 60
