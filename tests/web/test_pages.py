"""Pages: template and context per page, the form's messages per field, the
calculator against statsmodels, report, exports, dashboard, escaping."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from tests.conftest import FakeClock
from tests.utils.factories import add_catalogue, add_history, flagship_spec
from tests.utils.web import form_token, sign_in

FLAGSHIP_FORM: dict[str, Any] = {
    "key": "rec-algorithm-v2",
    "name": "Hybrid recommender v2",
    "hypothesis": "Hybrid lifts engagement",
    "variant_key": ["control", "treatment"],
    "variant_name": ["Most Popular", "Hybrid V2"],
    "variant_weight": ["50", "50"],
    "variant_type": ["popularity", "hybrid"],
    "variant_params": ["", "alpha=0.7"],
    "primary": "click_through_rate",
    "guardrails": ["conversion", "avg_session_duration", "revenue_per_user"],
    "sample_size": "10000",
    "minimum_duration": "7d",
}


@pytest.fixture
def editor(anonymous_client: TestClient, engine: Engine) -> TestClient:
    return sign_in(anonymous_client, engine, "editor")


def submit(client: TestClient, url: str, **changes: Any) -> Any:
    data = {**FLAGSHIP_FORM, **changes}
    data["csrf_token"] = form_token(client, "/experiments/new")
    return client.post(url, data=data, follow_redirects=False)


def test_pages_list_template_and_context(editor: TestClient) -> None:
    response = editor.get("/")
    assert response.template.name == "experiments.html"  # type: ignore[attr-defined]
    assert {"rows", "status", "user", "csrf_token"} <= set(response.context)  # type: ignore[attr-defined]
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_pages_form_creates_exactly_the_api_spec(
    editor: TestClient, engine: Engine
) -> None:
    response = submit(editor, "/experiments/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/experiments/rec-algorithm-v2"
    editor.headers["Authorization"] = "Bearer " + _key(engine)
    via_form = editor.get("/v1/experiments/rec-algorithm-v2").json()
    expected = flagship_spec(
        name="Hybrid recommender v2", hypothesis="Hybrid lifts engagement"
    )
    expected["metrics"] = [expected["metrics"][0], *expected["metrics"][1:]]
    assert via_form["variants"][1]["params"]["alpha"] == 0.7
    assert [v["weight"] for v in via_form["variants"]] == [0.5, 0.5]
    assert via_form["metrics"] == expected["metrics"]
    assert via_form["sampleSize"] == 10000 and via_form["minimumDuration"] == "7d"


def _key(engine: Engine) -> str:
    from tests.conftest import make_key

    return make_key(engine, "admin")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"variant_weight": ["60", "30"]}, "weights", "add up to 90%"),
        ({"variant_key": ["same", "same"]}, "variant-1-key", "duplicate variant key"),
        ({"variant_params": ["", "alpha=1.5"]}, "variant-1-params", "alpha must be"),
        ({"variant_type": ["popularity", "magic"]}, "variant-1-type", "unknown"),
        ({"variant_params": ["", "alpha"]}, "variant-1-params", "name=value"),
        ({"key": "bad key!"}, "key", "String should match pattern"),
        ({"minimum_duration": "7"}, "minimum_duration", "number and a unit"),
        ({"sample_size": "many"}, "sample_size", "whole number"),
        ({"sample_size": "0"}, "sample_size", "greater than 0"),
        (
            {
                "variant_key": ["control", ""],
                "variant_name": ["", ""],
                "variant_weight": ["100", ""],
                "variant_params": ["", ""],
            },
            "variants",
            "at least 2 variants",
        ),
    ],
)
def test_pages_form_message_next_to_field(
    editor: TestClient, changes: dict[str, Any], field: str, message: str
) -> None:
    response = submit(editor, "/experiments/new", **changes)
    assert response.status_code == 422
    assert response.template.name == "experiment_form.html"  # type: ignore[attr-defined]
    errors = response.context["errors"]  # type: ignore[attr-defined]
    assert message in errors[field], errors
    assert f'id="{field}-error"' in response.text
    # What was typed stays in the form.
    assert response.context["form"].name == "Hybrid recommender v2"  # type: ignore[attr-defined]
    assert editor.get("/").context["rows"] == []  # type: ignore[attr-defined]


def test_pages_form_duplicate_experiment_key(editor: TestClient) -> None:
    submit(editor, "/experiments/new")
    response = submit(editor, "/experiments/new")
    assert response.status_code == 422
    assert "already exists" in response.context["errors"]["key"]  # type: ignore[attr-defined]


def test_pages_add_variant_row(editor: TestClient) -> None:
    response = submit(editor, "/experiments/new", action="add_variant")
    assert len(response.context["rows"]) == 3  # type: ignore[attr-defined]


def test_pages_calculator_agrees_with_statsmodels(editor: TestClient) -> None:
    response = submit(
        editor,
        "/experiments/new",
        action="use_calc",
        calc_kind="proportion",
        calc_baseline="10",
        calc_mde="5",
        calc_alpha="0.05",
        calc_power="0.8",
        calc_share="50",
    )
    result = response.context["calc_result"]  # type: ignore[attr-defined]
    reference = samplesize_proportions_2indep_onetail(
        diff=0.005, prop2=0.10, power=0.8, ratio=1, alpha=0.05, alternative="two-sided"
    )
    assert result.n_control == pytest.approx(reference, abs=1)
    assert response.context["form"].sample_size == str(result.total)  # type: ignore[attr-defined]
    assert result.days is None  # no traffic yet

    response = submit(
        editor,
        "/experiments/new",
        action="calculate",
        calc_kind="mean",
        calc_baseline="4",
        calc_sd="8",
        calc_mde="10",
        calc_alpha="0.05",
        calc_power="0.9",
        calc_share="50",
    )
    result = response.context["calc_result"]  # type: ignore[attr-defined]
    reference = NormalIndPower().solve_power(
        effect_size=0.4 / 8, alpha=0.05, power=0.9, ratio=1.0
    )
    assert result.n_control == pytest.approx(reference, abs=1)


def test_pages_calculator_messages(editor: TestClient) -> None:
    response = submit(
        editor, "/experiments/new", action="calculate", calc_baseline="150"
    )
    assert response.status_code == 422
    errors = response.context["errors"]  # type: ignore[attr-defined]
    assert "between 0 and 100" in errors["calc_baseline"]


def test_pages_user_strings_escaped(editor: TestClient) -> None:
    evil = "<script>alert(1)</script>"
    submit(
        editor,
        "/experiments/new",
        name=evil,
        hypothesis=evil,
        variant_name=[evil, "x"],
    )
    for url in ("/", "/experiments/rec-algorithm-v2", "/audit"):
        page = editor.get(url).text
        assert evil not in page, url
    for url in ("/", "/experiments/rec-algorithm-v2"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in editor.get(url).text
    csv_text = editor.get("/experiments/rec-algorithm-v2/report.csv").text
    assert evil in csv_text  # CSV is data; its consumer escapes it


def test_pages_csv_cells_cannot_become_formulas(editor: TestClient) -> None:
    submit(editor, "/experiments/new", variant_name=["=HYPERLINK(1)", "x"])
    rows = list(
        csv.DictReader(
            io.StringIO(editor.get("/experiments/rec-algorithm-v2/report.csv").text)
        )
    )
    assert {r["variant_name"] for r in rows} == {"'=HYPERLINK(1)", "x"}


def test_pages_edit_draft_then_frozen_when_running(
    editor: TestClient, clock: FakeClock
) -> None:
    submit(editor, "/experiments/new")
    response = submit(
        editor,
        "/experiments/rec-algorithm-v2/edit",
        variant_weight=["80", "20"],
        name="Renamed",
    )
    assert response.status_code == 303
    page = editor.get("/experiments/rec-algorithm-v2")
    assert [v.weight for v in page.context["experiment"].variants] == [0.8, 0.2]  # type: ignore[attr-defined]
    token = form_token(editor, "/")
    assert (
        editor.post(
            "/experiments/rec-algorithm-v2/start", data={"csrf_token": token}
        ).status_code
        == 200
    )
    response = submit(
        editor,
        "/experiments/rec-algorithm-v2/edit",
        variant_weight=["50", "50"],
        name="Renamed again",
    )
    assert response.status_code == 303
    experiment = editor.get("/experiments/rec-algorithm-v2").context["experiment"]  # type: ignore[attr-defined]
    assert experiment.name == "Renamed again"
    assert [v.weight for v in experiment.variants] == [0.8, 0.2]
    again = editor.post(
        "/experiments/rec-algorithm-v2/start", data={"csrf_token": token}
    )
    assert again.status_code == 409
    assert "already running" in again.context["message"]  # type: ignore[attr-defined]
    actions = [e.action for e in editor.get("/audit").context["entries"]]  # type: ignore[attr-defined]
    assert actions[:4] == ["edit", "start", "edit", "create"]


def _traffic(client: TestClient, engine: Engine, clock: FakeClock) -> None:
    from tests.conftest import make_key

    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    headers = {"Authorization": f"Bearer {make_key(engine, 'admin')}"}
    for _day in range(3):
        events = []
        for u in range(30):
            served = client.get(
                "/v1/recommendations",
                params={"user_id": f"u{u}", "experiment": "rec-algorithm-v2", "k": 4},
                headers=headers,
            ).json()
            rid = served["request_id"]
            for item in served["items"]:
                events.append(
                    {
                        "event_id": f"imp-{rid}-{item['item_id']}",
                        "user_id": f"u{u}",
                        "type": "impression",
                        "item_id": item["item_id"],
                        "request_id": rid,
                    }
                )
            if u % 3 == 0:
                top = served["items"][0]["item_id"]
                events.append(
                    {
                        "event_id": f"click-{rid}",
                        "user_id": f"u{u}",
                        "type": "click",
                        "item_id": top,
                        "request_id": rid,
                    }
                )
                events.append(
                    {
                        "event_id": f"buy-{rid}",
                        "user_id": f"u{u}",
                        "type": "purchase",
                        "item_id": top,
                        "value": 3.99,
                    }
                )
        assert (
            client.post("/v1/events", json=events, headers=headers).status_code == 200
        )
        clock.now += timedelta(days=1)


def test_pages_report_dashboard_and_exports(
    editor: TestClient, engine: Engine, clock: FakeClock
) -> None:
    submit(editor, "/experiments/new", sample_size="20")
    editor.post(
        "/experiments/rec-algorithm-v2/start",
        data={"csrf_token": form_token(editor, "/")},
    )
    _traffic(editor, engine, clock)

    report = editor.get("/experiments/rec-algorithm-v2")
    assert report.template.name == "report.html"  # type: ignore[attr-defined]
    context = report.context  # type: ignore[attr-defined]
    assert {"experiment", "report", "metrics", "trends", "legend", "history"} <= set(
        context
    )
    assert context["report"].label in ("interim", "final", "blocked")
    decision = context["report"].decision
    assert decision is not None and decision.reasons
    assert decision.reasons[0] in report.text
    assert 'id="result-state"' in report.text
    assert "<svg" in str(context["metrics"][0]["forest"])
    assert "<polyline" in str(context["trends"]["click_through_rate"])

    dashboard = editor.get("/experiments/rec-algorithm-v2/dashboard")
    assert dashboard.template.name == "dashboard.html"  # type: ignore[attr-defined]
    panels = {p["name"]: p for p in dashboard.context["panels"]}  # type: ignore[attr-defined]
    assert set(panels) >= {
        "ctr",
        "conversion",
        "revenue_per_user",
        "diversity",
        "freshness",
        "coverage",
        "latency_p50",
    }
    series = dashboard.context["series"]  # type: ignore[attr-defined]
    assert [len(s.days) for s in series] == [3, 3]
    first = series[0].days[0]
    assert first.impressions > 0 and 0 < first.coverage <= 1

    exported = editor.get("/experiments/rec-algorithm-v2/report.json")
    assert exported.headers["content-disposition"].startswith("attachment")
    body = json.loads(exported.text)
    assert body["experiment"] == "rec-algorithm-v2"
    rows = list(
        csv.DictReader(
            io.StringIO(editor.get("/experiments/rec-algorithm-v2/report.csv").text)
        )
    )
    assert {r["metric"] for r in rows} >= {"click_through_rate", "conversion"}
    assert len(rows) == 2 * len(body["metrics"])


def test_pages_interim_report_unmistakable(editor: TestClient) -> None:
    submit(editor, "/experiments/new")
    page = editor.get("/experiments/rec-algorithm-v2")
    assert page.context["report"].label == "interim"  # type: ignore[attr-defined]
    assert "INTERIM RESULT — NOT FINAL" in page.text
    assert page.text.count("interim") >= 3
    assert "FINAL RESULT" not in page.text.replace("NOT FINAL", "")


def test_pages_unknown_experiment_404(editor: TestClient) -> None:
    for url in (
        "/experiments/nope",
        "/experiments/nope/dashboard",
        "/experiments/nope/edit",
    ):
        response = editor.get(url)
        assert response.status_code == 404
        assert response.template.name == "error.html"  # type: ignore[attr-defined]


def test_pages_ramp_sets_traffic_and_refuses_nonsense(
    editor: TestClient, engine: Engine
) -> None:
    assert submit(editor, "/experiments/new").status_code == 303
    token = form_token(editor, "/experiments/rec-algorithm-v2")
    response = editor.post(
        "/experiments/rec-algorithm-v2/ramp",
        data={"csrf_token": token, "traffic_percent": "25"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = editor.get("/experiments/rec-algorithm-v2")
    assert page.context["experiment"].traffic == 0.25  # type: ignore[attr-defined]
    for bad in ("0", "150", "lots"):
        response = editor.post(
            "/experiments/rec-algorithm-v2/ramp",
            data={"csrf_token": token, "traffic_percent": bad},
        )
        assert response.status_code == 422, bad
        assert response.template.name == "error.html"  # type: ignore[attr-defined]
    missing_token = editor.post(
        "/experiments/rec-algorithm-v2/ramp", data={"traffic_percent": "50"}
    )
    assert missing_token.status_code == 403


def test_pages_offline_preview_measures_every_variant(
    editor: TestClient, engine: Engine
) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=40, items_per_user=10)
        session.commit()
    assert submit(editor, "/experiments/new").status_code == 303
    page = editor.get("/experiments/rec-algorithm-v2/preview")
    assert page.status_code == 200
    assert page.template.name == "preview.html"  # type: ignore[attr-defined]
    report = page.context["report"]  # type: ignore[attr-defined]
    assert [m.name for m in report.models] == ["control", "treatment"]
    assert report.baseline == "control"
    assert report.n_users > 0
    assert report.models[1].alpha == 0.7
    assert editor.get("/experiments/nope/preview").status_code == 404
