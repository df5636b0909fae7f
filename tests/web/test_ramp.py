"""Ramping: a share of users enrolled, raised while the experiment runs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.assignment import enrolled
from experimentation.models import Exposure
from tests.utils.factories import add_catalogue, add_history, flagship_spec


def _serve(client: TestClient, users: range) -> dict[str, dict[str, object]]:
    out = {}
    for u in users:
        response = client.get(
            "/v1/recommendations",
            params={"user_id": f"r{u}", "experiment": "rec-algorithm-v2"},
        )
        assert response.status_code == 200
        out[f"r{u}"] = response.json()
    return out


def _exposures(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Exposure)) or 0)


def test_ramp_enrols_a_share_and_keeps_the_enrolled(
    client: TestClient, engine: Engine
) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    created = client.post(
        "/v1/experiments", json=flagship_spec(traffic=0.2, salt="ramp-test")
    ).json()
    assert created["traffic"] == 0.2
    client.post("/v1/experiments/rec-algorithm-v2/start")

    first = _serve(client, range(300))
    inside = {u for u, body in first.items() if body["enrolled"]}
    assert 30 < len(inside) < 90
    assert all(first[u]["variant"] == "control" for u in first if u not in inside)
    assert _exposures(engine) == len(inside)

    ramped = client.post("/v1/experiments/rec-algorithm-v2/ramp", json={"traffic": 0.6})
    assert ramped.status_code == 200
    assert ramped.json()["traffic"] == 0.6
    second = _serve(client, range(300))
    now_inside = {u for u, body in second.items() if body["enrolled"]}
    assert inside <= now_inside
    assert 130 < len(now_inside) < 230
    # Ramping moves nobody between variants.
    assert all(first[u]["variant"] == second[u]["variant"] for u in inside)
    assert now_inside == {
        u for u in second if enrolled("ramp-test", "rec-algorithm-v2", u, 0.6)
    }


def test_ramp_bad_values_and_stopped_refused(
    client: TestClient, engine: Engine
) -> None:
    client.post("/v1/experiments", json=flagship_spec())
    for traffic in (0, 1.5, -0.1, "half"):
        response = client.post(
            "/v1/experiments/rec-algorithm-v2/ramp", json={"traffic": traffic}
        )
        assert response.status_code == 422, traffic
        assert response.json()["error"]["message"].startswith("traffic:")
    client.post("/v1/experiments/rec-algorithm-v2/start")
    client.post("/v1/experiments/rec-algorithm-v2/stop")
    response = client.post("/v1/experiments/rec-algorithm-v2/ramp", json={"traffic": 1})
    assert response.status_code == 409
    assert "cannot be ramped" in response.json()["error"]["message"]


def test_ramp_down_refused_while_running(client: TestClient, engine: Engine) -> None:
    """Guards against moving exposed users out of their variant mid-experiment."""
    client.post("/v1/experiments", json=flagship_spec(traffic=0.5))
    assert (
        client.post(
            "/v1/experiments/rec-algorithm-v2/ramp", json={"traffic": 0.2}
        ).status_code
        == 200
    )  # a draft may still change either way
    client.post("/v1/experiments/rec-algorithm-v2/start")
    response = client.post(
        "/v1/experiments/rec-algorithm-v2/ramp", json={"traffic": 0.1}
    )
    assert response.status_code == 409
    assert "can only be raised" in response.json()["error"]["message"]
    assert (
        client.post(
            "/v1/experiments/rec-algorithm-v2/ramp", json={"traffic": 0.3}
        ).status_code
        == 200
    )
