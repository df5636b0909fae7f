"""The report end to end on hand-made data: CUPED, corrections, decision, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analysis.export import report_to_dict
from analysis.render import render_text
from analysis.report import build_report
from analysis.settings import AnalysisSettings
from experimentation.events import insert_rows
from experimentation.experiments import (
    create_experiment,
    get_experiment,
    start_experiment,
    stop_experiment,
)
from experimentation.models import Exposure, User
from experimentation.spec import ExperimentSpec
from tests.utils.factories import event_row, expose, flagship_spec

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
_ids = count()


def _experiment(
    session: Session, n_users: int, lift: float, slower: float = -4.0, **spec: Any
) -> str:
    """Users whose revenue after exposure follows their revenue before it."""
    rng = np.random.default_rng(7)
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec(**spec)), now=T
    )
    start_experiment(session, key=experiment.key, now=T)
    rows = []
    for u in range(n_users):
        user, arm = f"u{u}", u % 2
        at = T + timedelta(hours=1 + u % 48)
        request_id = expose(
            session,
            experiment,
            arm,
            user,
            at,
            category_entropy=1.0 + rng.random(),
            latency_ms=20.0 + 5 * rng.random() + slower * arm,
        )
        session.add(
            User(user_id=user, attributes={"gender": "FM"[u % 3 % 2]}, created_at=T)
        )
        habit = float(rng.gamma(2.0, 5.0))
        rows.append(event_row(user, "purchase", at - timedelta(days=2), value=habit))
        spend = habit * (1.0 + lift * arm) + float(rng.normal(0, 1))
        rows.append(event_row(user, "purchase", at + timedelta(minutes=5), value=spend))
        rows += [
            event_row(user, "impression", at, request_id=request_id) for _ in range(4)
        ]
        rows.append(event_row(user, "click", at, request_id=request_id))
        rows.append(event_row(user, "session_end", at, dwell_seconds=60.0 + u % 7))
    insert_rows(session, rows)
    session.flush()
    return experiment.key


METRICS = ["revenue_per_user", "conversion", "diversity", "serving_latency_ms"]


def test_report_applies_cuped_and_ships_on_primary(session: Session) -> None:
    key = _experiment(session, 80, lift=0.3, metrics=METRICS, sampleSize=60)
    report = build_report(session, key=key, now=T + timedelta(days=8))
    body = report_to_dict(report)
    revenue = body["metrics"]["revenue_per_user"]["comparisons"]["treatment"]
    assert revenue["cuped"]["applied"] is True
    assert revenue["cuped"]["variance_reduction"] > 0.9
    assert revenue["method"] == "cuped_welch"
    assert revenue["unadjusted"]["method"] == "welch"
    assert revenue["p_value_adjusted"] >= revenue["p_value"]
    low, high = revenue["sequential"]["absolute_lift"]["ci95"]
    fixed_low, fixed_high = revenue["absolute_lift"]["ci95"]
    assert low < fixed_low < fixed_high < high
    assert body["decision"]["decision"] == "ship"
    assert body["decision"]["treatment"] == "treatment"
    assert body["decision"]["primary_metric"] == "revenue_per_user"
    latency = body["metrics"]["serving_latency_ms"]
    assert latency["higher_is_better"] is False
    assert latency["comparisons"]["treatment"]["chance_to_beat_control"] > 0.99
    segments = {(s["dimension"], s["value"]) for s in body["segments"]}
    assert segments == {("gender", "F"), ("gender", "M"), ("age_band", "unknown")}
    assert body["analysis_settings"]["correction"] == "holm"
    assert "Decision: SHIP treatment" in render_text(report)


def test_report_rolls_back_when_a_guardrail_is_worse(session: Session) -> None:
    """Slower serving in treatment (lower is better) outweighs a revenue win."""
    key = _experiment(session, 80, lift=0.3, slower=4.0, metrics=METRICS, sampleSize=60)
    report = build_report(session, key=key, now=T + timedelta(days=8))
    assert report.decision is not None
    assert report.decision.decision == "roll_back"
    assert "Serving latency" in report.decision.reasons[0]
    tolerant = AnalysisSettings(guardrail_margins={"serving_latency_ms": 0.5})
    report = build_report(
        session, key=key, now=T + timedelta(days=8), settings=tolerant
    )
    assert report.decision is not None and report.decision.decision == "ship"


def test_report_interim_never_ships(session: Session) -> None:
    key = _experiment(session, 80, lift=0.3, metrics=METRICS, sampleSize=10_000)
    report = build_report(session, key=key, now=T + timedelta(days=8))
    assert report.label == "interim"
    assert report.decision is not None
    assert report.decision.decision == "keep_running"
    assert "always-valid" in " ".join(report.decision.reasons)
    revenue = report_to_dict(report)["metrics"]["revenue_per_user"]
    sequential = revenue["comparisons"]["treatment"]["sequential"]
    low, high = sequential["absolute_lift"]["ci95"]
    split_low, split_high = sequential["adjusted"]["absolute_lift"]["ci95"]
    assert split_low < low < high < split_high


def test_report_winsorisation_is_stated(session: Session) -> None:
    key = _experiment(session, 40, lift=0.0, metrics=METRICS, sampleSize=10)
    stop_experiment(session, key=key, now=T + timedelta(days=8))
    settings = AnalysisSettings(winsorize_percentile=0.9, cuped=False, segments=())
    report = build_report(
        session, key=key, now=T + timedelta(days=9), settings=settings
    )
    body = report_to_dict(report)
    cap = body["winsorization"]["caps"]["revenue_per_user"]
    assert body["winsorization"]["percentile"] == 0.9
    assert any(w.startswith("Winsorised") for w in body["warnings"])
    values = body["metrics"]["revenue_per_user"]["variants"]
    assert all(v["value"] <= cap for v in values.values())
    assert body["segments"] == []
    revenue = body["metrics"]["revenue_per_user"]["comparisons"]["treatment"]
    assert revenue["cuped"] is None


def test_report_family_limits_the_correction(session: Session) -> None:
    key = _experiment(session, 40, lift=0.0, metrics=METRICS, sampleSize=10)
    settings = AnalysisSettings(family=("revenue_per_user",))
    report = build_report(
        session, key=key, now=T + timedelta(days=8), settings=settings
    )
    body = report_to_dict(report)
    for name, metric in body["metrics"].items():
        c = metric["comparisons"]["treatment"]
        assert c["in_correction_family"] is (name == "revenue_per_user")
        if c["p_value"] is not None:
            assert c["p_value_adjusted"] == pytest.approx(c["p_value"])


def test_report_sample_ratio_mismatch_blocks_the_decision(session: Session) -> None:
    key = _experiment(session, 60, lift=0.3, metrics=METRICS, sampleSize=10)
    treatment = get_experiment(session, key=key).variants[1].id
    session.query(Exposure).filter(
        Exposure.variant_id == treatment, Exposure.user_id.like("u1%")
    ).delete(synchronize_session=False)
    report = build_report(
        session,
        key=key,
        now=T + timedelta(days=8),
        settings=AnalysisSettings(srm_threshold=0.5),
    )
    assert report.label == "blocked"
    assert report.decision is not None
    assert report.decision.decision == "keep_running"
    assert report.decision.reasons[0].startswith("Blocked")


def test_report_flat_when_final_without_change(session: Session) -> None:
    key = _experiment(session, 60, lift=0.0, slower=0.0, metrics=METRICS, sampleSize=10)
    report = build_report(session, key=key, now=T + timedelta(days=8))
    assert report.label == "final"
    assert report.decision is not None
    assert report.decision.decision == "flat"
    assert report.decision.per_treatment == {"treatment": "flat"}
