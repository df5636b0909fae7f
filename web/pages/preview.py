"""'Preview this experiment offline': the experiment's variants measured on the
platform's own data with the offline protocol, before (or while) it runs."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from experimentation import experiments
from experimentation.errors import NotFound
from recommenders.cli import format_report
from recommenders.evaluation import InsufficientData, ModelSpec, evaluate_log
from web.auth import ViewerDep
from web.deps import ServiceDep, SessionDep
from web.pages.common import render
from web.pages.experiments import not_found, not_possible

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# Enough for a first read; `splitrec evaluate` runs the full 2,000.
PREVIEW_RESAMPLES = 200


@router.get("/experiments/{key}/preview", response_class=HTMLResponse)
def preview_offline(
    request: Request,
    session: SessionDep,
    service: ServiceDep,
    user: ViewerDep,
    key: str,
) -> HTMLResponse:
    try:
        experiment = experiments.get_experiment(session, key=key)
    except NotFound as error:
        return not_found(request, user, error)
    snapshot = service.store.snapshot()
    specs = [
        ModelSpec(name=v.key, type=v.recommender, params=dict(v.params))
        for v in experiment.variants
    ]
    started = time.perf_counter()
    try:
        report = evaluate_log(
            snapshot.catalog,
            snapshot.interactions,
            specs,
            baseline=specs[0].name,
            n_resamples=PREVIEW_RESAMPLES,
        )
    except InsufficientData as error:
        return not_possible(request, user, key, str(error), 422)
    seconds = time.perf_counter() - started
    log.info("offline preview", extra={"experiment": key, "seconds": round(seconds, 1)})
    return render(
        request,
        "preview.html",
        {
            "experiment": experiment,
            "report": report,
            "table": format_report(report),
            "seconds": seconds,
        },
        user=user,
    )
