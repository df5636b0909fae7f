"""Duplicate, late and out-of-order events give the same analysis as the
clean stream."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.conftest import FakeClock
from tests.utils.factories import add_catalogue, add_history, flagship_spec


def _outcomes(client: TestClient, clock: FakeClock) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for u in range(40):
        user = f"u{u}"
        served = client.get(
            "/v1/recommendations",
            params={"user_id": user, "experiment": "rec-algorithm-v2", "k": 5},
        ).json()
        at = clock.now + timedelta(minutes=u)
        rid = served["request_id"]
        for item in served["items"]:
            events.append(
                {
                    "event_id": f"i-{rid}-{item['item_id']}",
                    "user_id": user,
                    "type": "impression",
                    "item_id": item["item_id"],
                    "request_id": rid,
                    "occurred_at": at.isoformat(),
                }
            )
        if u % 2:
            top = served["items"][u % 5]["item_id"]
            events.append(
                {
                    "event_id": f"c-{rid}",
                    "user_id": user,
                    "type": "click",
                    "item_id": top,
                    "request_id": rid,
                    "occurred_at": (at + timedelta(seconds=5)).isoformat(),
                }
            )
        if u % 3 == 0:
            events.append(
                {
                    "event_id": f"p-{rid}",
                    "user_id": user,
                    "type": "purchase",
                    "item_id": served["items"][0]["item_id"],
                    "value": 1.5 + u % 4,
                    "occurred_at": (at + timedelta(seconds=30)).isoformat(),
                }
            )
        events.append(
            {
                "event_id": f"s-{rid}",
                "user_id": user,
                "type": "session_end",
                "session_id": rid,
                "dwell_seconds": 100.0 + 7 * u,
                "occurred_at": (at + timedelta(minutes=2)).isoformat(),
            }
        )
    return events


def test_duplicate_late_shuffled_events_same_analysis(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=40)
        session.commit()
    client.post(
        "/v1/experiments", json=flagship_spec(sampleSize=10, minimumDuration="1d")
    )
    client.post("/v1/experiments/rec-algorithm-v2/start")
    clock.now += timedelta(minutes=1)
    events = _outcomes(client, clock)
    clock.now += timedelta(days=2)

    assert client.post("/v1/events", json=events).status_code == 200
    clean = client.get("/v1/experiments/rec-algorithm-v2/results").json()

    with engine.begin() as connection:
        connection.execute(text("DELETE FROM events WHERE event_id NOT LIKE 'h-%'"))
    messy = events + random.Random(7).sample(events, 60)  # 60 duplicates
    random.Random(11).shuffle(messy)
    # Late: the batches arrive a day after the events happened, out of order.
    clock.now += timedelta(days=1)
    for start in range(0, len(messy), 37):
        response = client.post("/v1/events", json=messy[start : start + 37])
        assert response.status_code == 200
    replayed = client.get("/v1/experiments/rec-algorithm-v2/results").json()

    assert replayed["metrics"] == clean["metrics"]
    assert replayed["sample_ratio_mismatch"] == clean["sample_ratio_mismatch"]
    ctr = clean["metrics"]["click_through_rate"]["variants"]
    assert sum(v["n"] for v in ctr.values()) == 40
