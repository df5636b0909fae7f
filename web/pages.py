"""Server-rendered pages for people: the experiment list and each report."""

from __future__ import annotations

import math
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from analysis.report import build_report
from experimentation import experiments
from experimentation.durations import format_duration
from experimentation.errors import NotFound
from web.deps import NowDep, SessionDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.2%}"


templates.env.filters["num"] = _fmt
templates.env.filters["pct"] = _pct
templates.env.filters["duration"] = format_duration


@router.get("/", response_class=HTMLResponse)
def experiment_list(request: Request, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "experiments.html",
        {"experiments": experiments.list_experiments(session)},
    )


@router.get("/experiments/{key}", response_class=HTMLResponse)
def experiment_page(
    request: Request, session: SessionDep, now: NowDep, key: str
) -> HTMLResponse:
    try:
        experiment = experiments.get_experiment(session, key=key)
    except NotFound as error:
        return templates.TemplateResponse(
            request, "error.html", {"message": str(error)}, status_code=404
        )
    report = build_report(session, key=key, now=now)
    return templates.TemplateResponse(
        request, "experiment.html", {"experiment": experiment, "report": report}
    )
