"""The database goes away mid-traffic: requests fail with 503 and a retry
hint, then recover without restarting the app."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from experimentation.db import engine_for
from experimentation.settings import Settings
from tests.conftest import make_key
from tests.utils.factories import add_catalogue, add_history, flagship_spec
from tests.utils.proxy import Proxy
from web.app import create_app


@pytest.fixture
def proxied_url(database_url: str) -> Iterator[tuple[str, Proxy]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite is a file in process: it cannot become unreachable")
    proxy = Proxy("127.0.0.1", 5432)
    proxy.up()
    url = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    yield url, proxy
    proxy.down()
    engine_for(url).dispose()


def test_database_outage_503_then_recovers(
    engine: Engine, proxied_url: tuple[str, Proxy]
) -> None:
    url, proxy = proxied_url
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    key = make_key(engine, "admin")
    settings = Settings.model_validate(
        {"DATABASE_URL": url, "event_queue": "sync", "model_refresh_seconds": 0}
    )
    app = create_app(settings, run_migrations=False)
    params = {"user_id": "u1", "experiment": "rec-algorithm-v2"}
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        assert client.post("/v1/experiments", json=flagship_spec()).status_code == 201
        client.post("/v1/experiments/rec-algorithm-v2/start")
        assert client.get("/v1/recommendations", params=params).status_code == 200

        proxy.down()
        time.sleep(11)  # past the key cache, so the database must answer
        down = client.get("/v1/experiments")
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert down.json()["error"]["code"] == "database_unavailable"

        proxy.up()
        deadline = time.monotonic() + 15
        while True:
            response = client.get("/v1/recommendations", params=params)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "never recovered"
            time.sleep(0.2)
        assert client.get("/v1/experiments").status_code == 200
