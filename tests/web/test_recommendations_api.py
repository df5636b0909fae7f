from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.models import Exposure
from tests.conftest import FakeClock
from tests.utils.factories import (
    add_catalogue,
    add_history,
    flagship_spec,
    history_items,
)


def _running_flagship(client: TestClient, engine: Engine, **overrides: object) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    assert (
        client.post("/v1/experiments", json=flagship_spec(**overrides)).status_code
        == 201
    )
    assert client.post("/v1/experiments/rec-algorithm-v2/start").status_code == 200


def _recommend(client: TestClient, user: str, **params: object) -> dict:
    response = client.get(
        "/v1/recommendations",
        params={"user_id": user, "experiment": "rec-algorithm-v2", **params},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_recommendations_shape_and_exposure_logged(
    client: TestClient, engine: Engine
) -> None:
    _running_flagship(client, engine)
    body = _recommend(client, "u3", k=5)
    assert set(body) == {
        "request_id",
        "experiment",
        "variant",
        "items",
        "from_cache",
        "enrolled",
    }
    assert body["enrolled"] is True
    assert body["experiment"] == "rec-algorithm-v2"
    assert body["variant"] in {"control", "treatment"}
    assert [i["position"] for i in body["items"]] == [1, 2, 3, 4, 5]
    assert len({i["item_id"] for i in body["items"]}) == 5
    with Session(engine) as session:
        exposure = session.scalars(select(Exposure)).one()
    assert exposure.request_id == body["request_id"]
    assert exposure.user_id == "u3"
    assert [i["item_id"] for i in exposure.items] == [
        i["item_id"] for i in body["items"]
    ]


def test_recommendations_same_user_same_variant(
    client: TestClient, engine: Engine
) -> None:
    _running_flagship(client, engine)
    for user in ("u1", "u2", "new-user-7"):
        variants = {_recommend(client, user)["variant"] for _ in range(4)}
        assert len(variants) == 1


def test_recommendations_never_return_items_the_user_has(
    client: TestClient, engine: Engine
) -> None:
    _running_flagship(client, engine)
    for u in (0, 5, 11):
        had = {f"item-{i}" for i in history_items(u)}
        items = {i["item_id"] for i in _recommend(client, f"u{u}", k=34)["items"]}
        assert len(items) == 34
        assert not items & had


def test_recommendations_cache_hit_is_logged_and_click_invalidates(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    _running_flagship(client, engine)
    first = _recommend(client, "u7")
    second = _recommend(client, "u7")
    assert (first["from_cache"], second["from_cache"]) == (False, True)
    assert second["items"] == first["items"]
    clicked = first["items"][0]["item_id"]
    clock.now += timedelta(minutes=1)
    response = client.post(
        "/v1/events",
        json={
            "event_id": "c-1",
            "user_id": "u7",
            "type": "click",
            "item_id": clicked,
            "request_id": first["request_id"],
        },
    )
    assert response.status_code == 200
    third = _recommend(client, "u7")
    assert third["from_cache"] is False
    assert clicked not in {i["item_id"] for i in third["items"]}
    with Session(engine) as session:
        flags = session.scalars(select(Exposure.from_cache).order_by(Exposure.id)).all()
    assert flags == [False, True, False]


def test_recommendations_unknown_user_gets_popular_items(
    client: TestClient, engine: Engine
) -> None:
    _running_flagship(client, engine)
    body = _recommend(client, "somebody-new", k=3)
    assert len(body["items"]) == 3


def test_recommendations_unknown_experiment_404(
    client: TestClient, engine: Engine
) -> None:
    response = client.get(
        "/v1/recommendations", params={"user_id": "u1", "experiment": "nope"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "experiment 'nope' does not exist"


def test_recommendations_draft_and_stopped_experiment_409(
    client: TestClient, engine: Engine
) -> None:
    client.post("/v1/experiments", json=flagship_spec())
    params = {"user_id": "u1", "experiment": "rec-algorithm-v2"}
    draft = client.get("/v1/recommendations", params=params)
    assert draft.status_code == 409
    assert "is draft" in draft.json()["error"]["message"]
    client.post("/v1/experiments/rec-algorithm-v2/start")
    client.post("/v1/experiments/rec-algorithm-v2/stop")
    stopped = client.get("/v1/recommendations", params=params)
    assert stopped.status_code == 409
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Exposure)) == 0


def test_recommendations_k_out_of_range_422(client: TestClient, engine: Engine) -> None:
    for k in (0, 101, "ten"):
        response = client.get(
            "/v1/recommendations",
            params={"user_id": "u1", "experiment": "rec-algorithm-v2", "k": k},
        )
        assert response.status_code == 422
        assert response.json()["error"]["message"].startswith("query.k:")


@pytest.mark.parametrize("user_id", ["u\x85", "u\u202e1", "u\u2028", "u\x00"])
def test_recommendations_control_characters_in_user_id_422(
    client: TestClient, engine: Engine, user_id: str
) -> None:
    _running_flagship(client, engine)
    response = client.get(
        "/v1/recommendations",
        params={"user_id": user_id, "experiment": "rec-algorithm-v2"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("query.user_id:")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Exposure)) == 0


def test_recommendations_recreated_experiment_not_served_old_cache(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    """Guards against lists cached for a deleted experiment being served to a
    new experiment with the same key (the demo's rerun does exactly this)."""
    from experimentation.experiments import delete_experiment

    _running_flagship(client, engine)
    assert _recommend(client, "u3")["from_cache"] is False
    assert _recommend(client, "u3")["from_cache"] is True
    with Session(engine) as session:
        delete_experiment(session, key="rec-algorithm-v2")
        session.commit()
    clock.now += timedelta(seconds=1)
    client.post("/v1/experiments", json=flagship_spec())
    client.post("/v1/experiments/rec-algorithm-v2/start")
    assert _recommend(client, "u3")["from_cache"] is False


def test_recommendations_follow_a_search_query(
    client: TestClient, engine: Engine
) -> None:
    """A user's search is explicit intent: a new user who searched for comedies
    gets comedies from the content model."""
    spec = flagship_spec(
        variants={
            "control": {"type": "content", "name": "Content A"},
            "treatment": {"type": "content", "name": "Content B"},
        }
    )
    _running_flagship(client, engine, **spec)
    before = _recommend(client, "searcher", k=3)
    response = client.post(
        "/v1/events",
        json={
            "event_id": "s1",
            "user_id": "searcher",
            "type": "search",
            "query": "comedy story",
        },
    )
    assert response.status_code == 200
    after = _recommend(client, "searcher", k=3)
    assert after["from_cache"] is False
    comedies = {f"item-{i}" for i in range(1, 40, 5)}
    assert {i["item_id"] for i in after["items"]} <= comedies
    assert {i["item_id"] for i in before["items"]} != {
        i["item_id"] for i in after["items"]
    }
