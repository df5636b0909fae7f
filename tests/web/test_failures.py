"""Failures answer in the error shape: 413 for huge bodies, 503 while the
database is down, 500 without a trace for a bug."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from experimentation.settings import Settings
from web.app import create_app


def test_body_over_limit_413_before_parsing(client: TestClient, engine: Engine) -> None:
    body = b"[" + b" " * 2_100_000 + b"]"
    response = client.post(
        "/v1/events", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        "the request body is over the limit of 2,000,000 bytes"
    )


def test_streamed_body_over_limit_413(client: TestClient, engine: Engine) -> None:
    """Guards against a body without Content-Length slipping past the limit."""

    def chunks() -> object:
        for _ in range(30):
            yield b" " * 100_000

    response = client.post(
        "/v1/events", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_database_down_503_with_retry_hint() -> None:
    settings = Settings.model_validate(
        {
            "DATABASE_URL": "postgresql://root@127.0.0.1:1/nowhere",
            "event_queue": "sync",
            "model_refresh_seconds": 0,
        }
    )
    app = create_app(settings, run_migrations=False)
    with TestClient(app) as client:
        response = client.get(
            "/v1/experiments", headers={"Authorization": "Bearer whatever"}
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["error"]["code"] == "database_unavailable"
    assert "psycopg" not in response.text and "SELECT" not in response.text


def test_unexpected_error_500_without_trace(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.app
    service = app.state.splitrec.service  # type: ignore[attr-defined]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "recommend", broken)
    with TestClient(app, raise_server_exceptions=False) as quiet:
        quiet.headers.update(client.headers)
        response = quiet.get(
            "/v1/recommendations", params={"user_id": "u", "experiment": "x"}
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
