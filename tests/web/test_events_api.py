from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.models import Event
from tests.conftest import FakeClock


def _event(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{n}",
        "user_id": "u1",
        "type": "click",
        "item_id": "i1",
    } | fields


def _stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def test_events_single_and_batch_stored(client: TestClient, engine: Engine) -> None:
    one = client.post("/v1/events", json=_event(1))
    assert one.json() == {
        "received": 1,
        "queued": False,
        "stored": 1,
        "duplicates": 0,
    }
    batch = client.post(
        "/v1/events",
        json=[
            _event(2, type="view", dwell_seconds=12.5),
            _event(3, type="purchase", value=4.99),
            _event(
                4, type="session_end", item_id=None, dwell_seconds=300, session_id="s"
            ),
            _event(5, type="search", item_id=None, query="space movies"),
        ],
    )
    assert batch.status_code == 200
    assert batch.json()["stored"] == 4
    assert _stored(engine) == 5


def test_events_repeated_event_id_stored_once(
    client: TestClient, engine: Engine
) -> None:
    """Guards against a retried batch doubling outcomes."""
    client.post("/v1/events", json=[_event(1), _event(2)])
    again = client.post("/v1/events", json=[_event(2), _event(3), _event(3)])
    assert again.json() == {
        "received": 3,
        "queued": False,
        "stored": 1,
        "duplicates": 2,
    }
    assert _stored(engine) == 3


def test_events_occurred_at_defaults_to_server_time(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    client.post("/v1/events", json=_event(1))
    client.post("/v1/events", json=_event(2, occurred_at=1_700_000_000))
    with Session(engine) as session:
        times = session.scalars(
            select(Event.occurred_at).order_by(Event.event_id)
        ).all()
    assert times[0] == clock.now
    assert times[1].timestamp() == 1_700_000_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_event(1, type="purchase"), "a purchase needs its revenue in value"),
        (_event(1, type="purchase", value=-3), "a purchase needs its revenue in value"),
        (
            _event(1, type="purchase", value="lots"),
            "value: Input should be a valid number",
        ),
        (_event(1, type="teleport"), "type: Input should be"),
        (_event(1, item_id=None), "a click event needs an item_id"),
        (_event(1, dwell_seconds=-1), "dwell_seconds: Input should be greater than"),
        (
            {"user_id": "u1", "type": "click", "item_id": "i"},
            "event_id: Field required",
        ),
        (_event(1, user_id="a\x00b"), "user_id: String should match pattern"),
        (_event(1, user_id="user\u202e1"), "user_id: String should match pattern"),
        (_event(1, event_id="e\x85"), "event_id: String should match pattern"),
        (_event(1, item_id="i\u2066"), "item_id: String should match pattern"),
        (_event(1, user_id="x" * 129), "user_id: String should have at most 128"),
        (_event(1, occurred_at=0), "occurred_at is before 1990"),
        (_event(1, colour="red"), "colour: Extra inputs are not permitted"),
        (_event(1, type="purchase", value=1e300), "value: Input should be less than"),
        (_event(1, type="purchase", value=True), "value: Input should be a valid"),
        (_event(1, type="view", dwell_seconds="12"), "dwell_seconds: Input should be"),
        (_event(1, type="view"), "a view event needs dwell_seconds"),
        (
            _event(1, type="session_start", item_id=None),
            "a session_start event needs a session_id",
        ),
    ],
)
def test_events_bad_input_422_and_nothing_stored(
    client: TestClient, engine: Engine, body: dict[str, Any], message: str
) -> None:
    client.post("/v1/events", json=_event(99))
    response = client.post("/v1/events", json=[_event(100), body])
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    assert _stored(engine) == 1


def test_events_nan_and_infinity_refused(client: TestClient, engine: Engine) -> None:
    for raw in ("NaN", "Infinity", "-Infinity"):
        body = (
            '{"event_id": "n1", "user_id": "u", "type": "purchase", '
            f'"item_id": "i", "value": {raw}}}'
        )
        response = client.post(
            "/v1/events", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, raw
    assert _stored(engine) == 0


def test_events_future_timestamp_refused(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    future = (clock.now + timedelta(days=2)).isoformat()
    response = client.post("/v1/events", json=_event(1, occurred_at=future))
    assert response.status_code == 422
    assert "more than a day in the future" in response.json()["error"]["message"]
    assert _stored(engine) == 0


def test_events_batch_over_limit_413(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/events", json=[_event(n) for n in range(1001)])
    assert response.status_code == 413
    assert "at most 1000 events" in response.json()["error"]["message"]
    assert _stored(engine) == 0


def test_events_malformed_json_422(client: TestClient, engine: Engine) -> None:
    response = client.post(
        "/v1/events", content="{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"]


def test_events_injection_strings_stored_as_data(
    client: TestClient, engine: Engine
) -> None:
    """SQL and HTML in ids and queries are data: stored verbatim, nothing run."""
    hostile = [
        "'; DROP TABLE events; --",
        '" OR 1=1 --',
        "<script>alert(1)</script>",
        "Robert'); DELETE FROM experiments;--",
        "ünïcödé ✓ 用户",
    ]
    events = [
        _event(n, user_id=text, item_id=text, type="search", query=text)
        for n, text in enumerate(hostile)
    ]
    response = client.post("/v1/events", json=events)
    assert response.status_code == 200
    assert _stored(engine) == len(hostile)
    with Session(engine) as session:
        users = set(session.scalars(select(Event.user_id)))
    assert users == set(hostile)


def test_events_non_utf8_body_422(client: TestClient, engine: Engine) -> None:
    body = b'{"event_id": "\xff\xfe", "user_id": "u", "type": "click", "item_id": "i"}'
    response = client.post(
        "/v1/events", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "the request body is not valid JSON"
    assert _stored(engine) == 0


def test_events_nul_in_query_refused(client: TestClient, engine: Engine) -> None:
    """Guards against a NUL byte PostgreSQL cannot store poisoning a batch."""
    body = _event(1, type="search", item_id=None, query="a\x00b")
    response = client.post("/v1/events", json=body)
    assert response.status_code == 422
    assert "query" in response.json()["error"]["message"]
    assert _stored(engine) == 0
