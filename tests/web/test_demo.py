"""The main job on the real data, shrunk to a few hundred users."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.models import Event, Exposure
from experimentation.settings import Settings
from web.demo import run_demo


@pytest.mark.slow
def test_demo_ends_final_and_reruns_safely(
    settings: Settings, engine: Engine, movielens_path: Path
) -> None:
    report = run_demo(settings, movielens_path, sample_size=1_000)
    assert report.label == "final"
    assert report.progress.users == 1_000
    assert not report.srm.mismatch
    names = [m.metric.name for m in report.metrics]
    assert names == [
        "click_through_rate",
        "conversion",
        "avg_session_duration",
        "revenue_per_user",
    ]
    ctr = report.metrics[0]
    assert all(0 < v.value < 1 for v in ctr.values)
    with Session(engine) as session:
        exposures = session.scalar(select(func.count()).select_from(Exposure))
        demo_events = session.scalar(
            select(func.count()).where(Event.event_id.like("demo-%"))
        )
    assert exposures and demo_events

    again = run_demo(settings, movielens_path, sample_size=1_000)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Exposure)) == exposures
        assert (
            session.scalar(select(func.count()).where(Event.event_id.like("demo-%")))
            == demo_events
        )
    assert again.progress.users == 1_000
    assert [v.n for v in again.metrics[0].values] == [v.n for v in ctr.values]
