"""The report page's cumulative trends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from experimentation.events import insert_rows
from experimentation.experiments import create_experiment, start_experiment
from experimentation.models import UserValuesState
from experimentation.spec import ExperimentSpec
from tests.utils.factories import event_row, expose, flagship_spec
from web.timeline import _point, cumulative

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
METRICS = ["click_through_rate", "conversion", "revenue_per_user"]


def test_running_day_from_stored_values_equals_the_events(session: Session) -> None:
    experiment = create_experiment(
        session, spec=ExperimentSpec.model_validate(flagship_spec()), now=T
    )
    start_experiment(session, key=experiment.key, now=T)
    rows = []
    for day in range(3):
        for u in range(8):
            at = T + timedelta(days=day, hours=u)
            request = expose(session, experiment, u % 2, f"u{u}", at)
            rows += [event_row(f"u{u}", "impression", at, request_id=request)]
            if (u + day) % 3 == 0:
                rows.append(event_row(f"u{u}", "click", at, request_id=request))
                rows.append(event_row(f"u{u}", "purchase", at, value=2.0 + u))
    insert_rows(session, rows)
    session.flush()
    end = T + timedelta(days=2, hours=20)

    trends = cumulative(session, experiment=experiment, metrics=METRICS, window_end=end)

    assert session.get(UserValuesState, experiment.id) is not None
    direct = _point(session, experiment, METRICS, end)
    for metric in METRICS:
        for series in trends[metric]:
            key = next(
                v.key for v in experiment.variants if (v.name or v.key) == series.label
            )
            last_at, last_value = series.points[-1]
            assert last_at == end
            assert last_value == pytest.approx(direct[metric][key])
