"""Each metric's cumulative value per variant at the end of every day so far,
as chart series for the report page (the points: analysis/trend_points.py)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from analysis.settings import AnalysisSettings
from analysis.trend_points import closed_day_point, count_point
from analysis.user_values import current_values
from experimentation.dashboard import buckets
from experimentation.models import Experiment
from web.charts import Series


def cumulative(
    session: Session,
    *,
    experiment: Experiment,
    metrics: list[str],
    window_end: datetime,
    now: datetime,
) -> dict[str, list[Series]]:
    """metric -> one series per variant; each point counts everything up to then.

    Commit the session to keep the closed days' points it stored.
    """
    if experiment.started_at is None:
        return {m: [] for m in metrics}
    points: dict[str, dict[str, list[tuple[datetime, float]]]] = {
        m: {v.key: [] for v in experiment.variants} for m in metrics
    }
    lookback = timedelta(days=AnalysisSettings().cuped_lookback_days)
    for _, end in buckets(experiment.started_at, window_end):
        if end < window_end:
            point = closed_day_point(session, experiment, end, now)
        else:
            # The report has just brought the stored values to this instant.
            stored = current_values(
                session,
                experiment=experiment,
                window_end=end,
                pre_start=experiment.started_at - lookback,
            )
            point = count_point(session, experiment, end, stored)
        for metric in metrics:
            for key in points[metric]:
                value = point.get(metric, {}).get(key, math.nan)
                points[metric][key].append((end, value))
    labels = {v.key: v.name or v.key for v in experiment.variants}
    return {
        m: [Series(labels[key], series) for key, series in by_variant.items()]
        for m, by_variant in points.items()
    }
