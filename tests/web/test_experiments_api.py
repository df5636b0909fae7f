from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import FakeClock
from tests.utils.factories import flagship_spec


def test_experiment_create_flagship_as_is(client: TestClient, engine: Engine) -> None:
    response = client.post("/v1/experiments", json=flagship_spec())
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "rec-algorithm-v2"
    assert body["status"] == "draft"
    assert body["sampleSize"] == 10000
    assert body["minimumDuration"] == "7d"
    assert [(v["key"], v["type"], v["weight"]) for v in body["variants"]] == [
        ("control", "popularity", 0.5),
        ("treatment", "hybrid", 0.5),
    ]
    assert body["variants"][1]["params"]["alpha"] == 0.7
    assert body["variants"][0]["name"] == "Most Popular"


def test_experiment_weights_given(client: TestClient, engine: Engine) -> None:
    spec = flagship_spec(weights={"control": 90, "treatment": 10})
    body = client.post("/v1/experiments", json=spec).json()
    assert [v["weight"] for v in body["variants"]] == [0.9, 0.1]


def test_experiment_lifecycle(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    client.post("/v1/experiments", json=flagship_spec())
    started = client.post("/v1/experiments/rec-algorithm-v2/start").json()
    assert started["status"] == "running"
    assert started["started_at"].startswith("2026-11-02T09:00")
    again = client.post("/v1/experiments/rec-algorithm-v2/start")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        "experiment 'rec-algorithm-v2' is already running"
    )
    clock.now += timedelta(days=3)
    stopped = client.post("/v1/experiments/rec-algorithm-v2/stop").json()
    assert stopped["status"] == "stopped"
    restart = client.post("/v1/experiments/rec-algorithm-v2/start")
    assert restart.status_code == 409
    listed = client.get("/v1/experiments", params={"status": "stopped"}).json()
    assert [e["id"] for e in listed] == ["rec-algorithm-v2"]
    assert client.get("/v1/experiments", params={"status": "running"}).json() == []


def test_experiment_duplicate_key_409(client: TestClient, engine: Engine) -> None:
    client.post("/v1/experiments", json=flagship_spec())
    response = client.post("/v1/experiments", json=flagship_spec(name="again"))
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": {"control": 50}}, "weights must name exactly the variants"),
        ({"weights": {"control": -1, "treatment": 2}}, "each weight must be more"),
        ({"weights": {"control": 0, "treatment": 1}}, "each weight must be more"),
        ({"weights": {"control": 1e308, "treatment": 1e308}}, "at most 1,000,000"),
        ({"minimumDuration": "99999999999999999999w"}, "from 1 second to 3650 days"),
        ({"minimumDuration": "0.4s"}, "from 1 second to 3650 days"),
        (
            {
                "variants": {
                    "control\n": {"type": "popularity"},
                    "treatment": {"type": "hybrid"},
                }
            },
            "variant key",
        ),
        ({"metrics": ["ctr"]}, "unknown metric 'ctr'"),
        # PostgreSQL text cannot hold NUL: a 500 before.
        ({"name": "a\x00b"}, "name: String should match pattern"),
        ({"hypothesis": "x\x00"}, "hypothesis: String should match pattern"),
        (
            {
                "variants": {
                    "control": {"type": "popularity", "name": "\x00"},
                    "treatment": {"type": "hybrid"},
                }
            },
            "name: String should match pattern",
        ),
        (
            {
                "variants": {
                    "control": {"type": "popularity"},
                    "treatment": {"type": "content", "image_weight": 1e308},
                }
            },
            "variant 'treatment'",
        ),
        ({"metrics": []}, "metrics: List should have at least 1 item"),
        ({"minimumDuration": "7"}, "must be a number and a unit"),
        ({"sampleSize": 0}, "sampleSize: Input should be greater than 0"),
        ({"id": "bad key!"}, "id: String should match pattern"),
        ({"variants": {"only": {"type": "popularity"}}}, "2 to 10 variants"),
        (
            {
                "variants": {
                    "control": {"type": "popularity"},
                    "treatment": {"type": "hybrid", "alpha": 1.5},
                }
            },
            "variant 'treatment'",
        ),
        (
            {
                "variants": {
                    "control": {"type": "popularity"},
                    "treatment": {"type": "magic"},
                }
            },
            "variant 'treatment'",
        ),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_experiment_invalid_spec_422(
    client: TestClient, engine: Engine, overrides: dict[str, object], message: str
) -> None:
    response = client.post("/v1/experiments", json=flagship_spec(**overrides))
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    assert client.get("/v1/experiments").json() == []


def test_experiment_unknown_404(client: TestClient, engine: Engine) -> None:
    for method, url in [
        ("GET", "/v1/experiments/nope"),
        ("POST", "/v1/experiments/nope/start"),
        ("POST", "/v1/experiments/nope/stop"),
        ("GET", "/v1/experiments/nope/results"),
    ]:
        response = client.request(method, url)
        assert response.status_code == 404, url
        assert response.json() == {
            "error": {
                "code": "not_found",
                "message": "experiment 'nope' does not exist",
            }
        }
