from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.conftest import FakeClock
from tests.utils.factories import add_catalogue, add_history, flagship_spec


def _traffic(client: TestClient, clock: FakeClock, users: range) -> None:
    """Each user is served once, sees the list, clicks the top item, buys one."""
    events = []
    for u in users:
        user = f"u{u}"
        served = client.get(
            "/v1/recommendations",
            params={"user_id": user, "experiment": "rec-algorithm-v2", "k": 4},
        ).json()
        rid = served["request_id"]
        for item in served["items"]:
            events.append(
                {
                    "event_id": f"imp-{rid}-{item['item_id']}",
                    "user_id": user,
                    "type": "impression",
                    "item_id": item["item_id"],
                    "request_id": rid,
                }
            )
        top = served["items"][0]["item_id"]
        events.append(
            {
                "event_id": f"clk-{rid}",
                "user_id": user,
                "type": "click",
                "item_id": top,
                "request_id": rid,
            }
        )
        if u % 3 == 0:
            events.append(
                {
                    "event_id": f"buy-{rid}",
                    "user_id": user,
                    "type": "purchase",
                    "item_id": top,
                    "value": 2.0 + u % 5,
                }
            )
        events.append(
            {
                "event_id": f"end-{rid}",
                "user_id": user,
                "type": "session_end",
                "session_id": rid,
                "dwell_seconds": 60.0 + u,
            }
        )
    for start in range(0, len(events), 500):
        assert (
            client.post("/v1/events", json=events[start : start + 500]).status_code
            == 200
        )


def test_results_interim_then_final(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=60)
        session.commit()
    client.post("/v1/experiments", json=flagship_spec(sampleSize=50))
    client.post("/v1/experiments/rec-algorithm-v2/start")
    clock.now += timedelta(hours=1)
    _traffic(client, clock, range(30))

    interim = client.get("/v1/experiments/rec-algorithm-v2/results").json()
    assert interim["result"] == "interim"
    assert interim["progress"]["summary"] == "not yet: 30 of 50 users, day 1 of 7"
    assert any(w.startswith("Interim") for w in interim["warnings"])
    assert set(interim["metrics"]) == {
        "click_through_rate",
        "conversion",
        "avg_session_duration",
        "revenue_per_user",
    }

    clock.now += timedelta(days=7)
    _traffic(client, clock, range(30, 60))
    final = client.get("/v1/experiments/rec-algorithm-v2/results").json()
    assert final["result"] == "final"
    assert final["progress"]["final"] is True
    ctr = final["metrics"]["click_through_rate"]
    n = {k: v["n"] for k, v in ctr["variants"].items()}
    assert sum(n.values()) == 60
    # Every user clicked one of the 4 items shown: CTR is exactly 1/4 per arm.
    assert ctr["variants"]["control"]["value"] == 0.25
    assert ctr["variants"]["treatment"]["value"] == 0.25
    conversion = final["metrics"]["conversion"]
    assert sum(v["value"] * v["n"] for v in conversion["variants"].values()) == 20
    comparison = final["metrics"]["revenue_per_user"]["comparisons"]["treatment"]
    low, high = comparison["absolute_lift"]["ci95"]
    assert low <= comparison["absolute_lift"]["estimate"] <= high
    assert 0 <= comparison["p_value"] <= 1
    assert final["sample_ratio_mismatch"]["observed"] == [n["control"], n["treatment"]]


def test_results_sample_ratio_mismatch_blocks(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    """A 50/50 design that served 90/10 must not read as a final result."""
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    client.post(
        "/v1/experiments",
        json=flagship_spec(sampleSize=10, weights={"control": 1, "treatment": 1}),
    )
    client.post("/v1/experiments/rec-algorithm-v2/start")
    clock.now += timedelta(days=8)
    # Serve many users but keep only the control ones: a broken logging path.
    served = 0
    user = 0
    while served < 200:
        user += 1
        body = client.get(
            "/v1/recommendations",
            params={"user_id": f"x{user}", "experiment": "rec-algorithm-v2"},
        ).json()
        served += body["variant"] == "control"
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "DELETE FROM exposures WHERE variant_id IN "
            "(SELECT id FROM variants WHERE key = 'treatment') "
            "AND id NOT IN (SELECT MIN(e.id) FROM exposures e JOIN variants v "
            "ON v.id = e.variant_id WHERE v.key = 'treatment')"
        )
    report = client.get("/v1/experiments/rec-algorithm-v2/results").json()
    assert report["sample_ratio_mismatch"]["mismatch"] is True
    assert report["result"] == "blocked"
    assert report["warnings"][0].startswith("Sample-ratio mismatch")


def test_results_analysis_choices(
    client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=30)
        session.commit()
    client.post("/v1/experiments", json=flagship_spec(sampleSize=10))
    client.post("/v1/experiments/rec-algorithm-v2/start")
    clock.now += timedelta(hours=1)
    _traffic(client, clock, range(30))
    url = "/v1/experiments/rec-algorithm-v2/results"
    chosen = client.get(
        url, params={"family": "conversion", "correction": "benjamini_hochberg"}
    ).json()
    in_family = {
        name: metric["comparisons"]["treatment"]["in_correction_family"]
        for name, metric in chosen["metrics"].items()
    }
    assert in_family == {
        "click_through_rate": False,
        "conversion": True,
        "avg_session_duration": False,
        "revenue_per_user": False,
    }
    for params, message in [
        ({"correction": "bonferonni"}, "correction must be one of"),
        ({"family": "conversion,ctr"}, "family: unknown metric 'ctr'"),
        ({"primary": "nope"}, "primary: unknown metric 'nope'"),
        ({"winsorize": 1.5}, "query.winsorize"),
    ]:
        response = client.get(url, params=params)
        assert response.status_code == 422, params
        assert message in response.json()["error"]["message"]
