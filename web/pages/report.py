"""The result report, its CSV and JSON exports, and the recommender dashboard."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from analysis.report import ALPHA, MetricResult, Report, build_report, report_to_dict
from experimentation import audit, experiments
from experimentation.dashboard import DayFigures, recommender_dashboard
from experimentation.errors import NotFound
from web import charts
from web.auth import ViewerDep
from web.deps import NowDep, SessionDep
from web.pages.common import SECURITY_HEADERS, num, pct, render
from web.pages.experiments import not_found
from web.timeline import cumulative

router = APIRouter(include_in_schema=False)


def verdict(report: Report, result: MetricResult, key: str) -> tuple[str, str]:
    """(kind, sentence) for one treatment on one metric."""
    c = result.comparisons[key]
    if c.message or not math.isfinite(c.absolute.p_value):
        return "undefined", "No verdict: the data do not define this comparison yet."
    higher_is_better = getattr(result.metric, "higher_is_better", True)
    significant = c.absolute.p_value < ALPHA
    if not significant:
        kind, sentence = "flat", "No detectable difference from control"
    elif (c.absolute.estimate > 0) == higher_is_better:
        kind, sentence = "better", "Better than control"
    else:
        kind, sentence = "worse", "Worse than control"
    if report.label == "blocked":
        sentence += " — but blocked by the sample-ratio mismatch; do not act on it"
    elif not report.final:
        sentence += " so far (interim: not a decision)"
    return kind, sentence + "."


def _metric_views(report: Report) -> list[dict[str, Any]]:
    views = []
    stamp = {
        "interim": "INTERIM — MAY STILL MOVE",
        "blocked": "BLOCKED — SAMPLE-RATIO MISMATCH",
    }.get(report.label, "")
    for m in report.metrics:
        names = {v.key: v.name or v.key for v in m.values}
        rows, verdicts = [], {}
        for key, c in m.comparisons.items():
            kind, sentence = verdict(report, m, key)
            verdicts[key] = (kind, sentence)
            rows.append(
                charts.ForestRow(
                    names[key],
                    c.relative.estimate,
                    c.relative.ci_low,
                    c.relative.ci_high,
                    kind,
                )
            )
        views.append(
            {
                "result": m,
                "verdicts": verdicts,
                "forest": charts.forest(
                    rows, title=f"{m.metric.label}: lift over control", stamp=stamp
                ),
            }
        )
    return views


def _load(request: Request, session: Any, now: Any, user: Any, key: str) -> Any:
    try:
        experiment = experiments.get_experiment(session, key=key)
    except NotFound as error:
        return None, not_found(request, user, error)
    report = build_report(session, key=key, now=now)
    session.commit()  # keeps the per-user values the report brought up to date
    return experiment, report


@router.get("/experiments/{key}", response_class=HTMLResponse)
def report_page(
    request: Request, session: SessionDep, now: NowDep, user: ViewerDep, key: str
) -> HTMLResponse:
    """The result report: verdicts, forest plots, values, and metrics over time."""
    experiment, report = _load(request, session, now, user, key)
    if experiment is None:
        return report  # type: ignore[no-any-return]
    over_time = cumulative(
        session,
        experiment=experiment,
        metrics=[m.metric.name for m in report.metrics],
        window_end=report.window_end,
        now=now,
    )
    session.commit()  # keeps the closed days' points counted for the trends
    trends = {}
    for m in report.metrics:
        fmt = _formatter(m.metric.kind)
        trends[m.metric.name] = charts.lines(
            over_time.get(m.metric.name, []),
            title=f"{m.metric.label}, cumulative, per variant",
            fmt=fmt,
        )
    return render(
        request,
        "report.html",
        {
            "experiment": experiment,
            "report": report,
            "metrics": _metric_views(report),
            "trends": trends,
            "legend": [
                (charts.legend_key(i), v.name or v.key)
                for i, v in enumerate(experiment.variants)
            ],
            "history": audit.list_entries(session, target=key, limit=20),
            "alpha": ALPHA,
        },
        user=user,
    )


def _formatter(kind: str) -> Any:
    if kind in ("proportion", "ratio"):
        return lambda v: pct(v, signed=False)
    return lambda v: num(v, 3)


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _cell(value: Any) -> Any:
    """Keep spreadsheet programs from running a user's text as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


@router.get("/experiments/{key}/report.csv")
def report_csv(
    request: Request, session: SessionDep, now: NowDep, user: ViewerDep, key: str
) -> Response:
    """One row per metric and variant."""
    experiment, report = _load(request, session, now, user, key)
    if experiment is None:
        return report  # type: ignore[no-any-return]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "experiment",
            "result",
            "metric",
            "variant",
            "variant_name",
            "n",
            "value",
            "relative_lift",
            "ci95_low",
            "ci95_high",
            "absolute_lift",
            "p_value",
            "significant",
        ]
    )
    for m in report.metrics:
        for v in m.values:
            c = m.comparisons.get(v.key)
            lift = (
                [math.nan] * 5
                if c is None
                else [
                    c.relative.estimate,
                    c.relative.ci_low,
                    c.relative.ci_high,
                    c.absolute.estimate,
                    c.absolute.p_value,
                ]
            )
            significant = (
                "" if c is None else str(math.isfinite(lift[4]) and lift[4] < ALPHA)
            )
            row = [report.experiment, report.label, m.metric.name, v.key, v.name]
            row += [v.n, v.value, *lift, significant]
            writer.writerow([_cell(x) for x in row])
    return _download(out.getvalue(), "text/csv; charset=utf-8", f"{key}-report.csv")


@router.get("/experiments/{key}/report.json")
def report_json(
    request: Request, session: SessionDep, now: NowDep, user: ViewerDep, key: str
) -> Response:
    experiment, report = _load(request, session, now, user, key)
    if experiment is None:
        return report  # type: ignore[no-any-return]
    body = json.dumps(report_to_dict(report), indent=2)
    return _download(body, "application/json", f"{key}-report.json")


DASHBOARD = (
    ("ctr", "Click-through rate", "clicks / impressions of the lists served", "rate"),
    ("conversion", "Conversion", "share of users served that day who bought", "rate"),
    ("revenue_per_user", "Revenue per user", "revenue that day / users served", "num"),
    ("diversity", "Diversity", "mean category entropy of a list (bits)", "num"),
    ("freshness", "Freshness", "mean share of new items in a list", "rate"),
    ("coverage", "Catalogue coverage", "distinct items served / catalogue", "rate"),
    ("latency_p50", "Serving latency, median", "milliseconds", "num"),
    ("latency_p95", "Serving latency, 95th percentile", "milliseconds", "num"),
)


def _latest(days: list[DayFigures], name: str) -> float:
    """The last day's figure that is defined (the running day may have none)."""
    for day in reversed(days):
        value = _figure(day, name)
        if math.isfinite(value):
            return value
    return math.nan


def _figure(day: DayFigures, name: str) -> float:
    value: float = getattr(day, name)
    return value


@router.get("/experiments/{key}/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, session: SessionDep, now: NowDep, user: ViewerDep, key: str
) -> HTMLResponse:
    """Per variant and day: engagement, list quality, coverage and latency."""
    try:
        experiment = experiments.get_experiment(session, key=key)
    except NotFound as error:
        return not_found(request, user, error)
    window_end = experiment.stopped_at or now
    series = recommender_dashboard(
        session, experiment=experiment, window_end=window_end
    )
    panels = []
    for name, label, help_text, kind in DASHBOARD:
        fmt = _formatter("ratio" if kind == "rate" else "mean")
        lines = [
            charts.Series(
                s.name or s.key, [(d.start, _figure(d, name)) for d in s.days]
            )
            for s in series
        ]
        latest = {s.key: fmt(_latest(s.days, name)) for s in series}
        panels.append(
            {
                "name": name,
                "label": label,
                "help": help_text,
                "chart": charts.lines(lines, title=f"{label} per day", fmt=fmt),
                "latest": latest,
            }
        )
    return render(
        request,
        "dashboard.html",
        {
            "experiment": experiment,
            "series": series,
            "panels": panels,
            "legend": [
                (charts.legend_key(i), s.name or s.key) for i, s in enumerate(series)
            ],
        },
        user=user,
    )
