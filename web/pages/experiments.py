"""Experiment pages: the list, the create and edit form, start and stop."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analysis.metrics import METRICS
from experimentation import audit, editing, experiments
from experimentation.errors import Conflict, InvalidInput, InvalidState, NotFound
from experimentation.models import Experiment
from recommenders.registry import RECOMMENDER_TYPES
from web.auth import CsrfChecked, EditorDep, SignedIn, ViewerDep
from web.deps import NowDep, SessionDep
from web.pages.common import render
from web.pages.forms import MAX_ROWS, ExperimentForm, VariantRow, calculate, to_spec

router = APIRouter(include_in_schema=False)

StatusFilter = Annotated[str | None, Query(pattern="^(draft|running|stopped)?$")]


def not_found(request: Request, user: SignedIn, error: NotFound) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": "Not found", "message": str(error)},
        user=user,
        status_code=status.HTTP_404_NOT_FOUND,
    )


def not_possible(
    request: Request, user: SignedIn, key: str, message: str, status_code: int
) -> HTMLResponse:
    """The error page for an action the experiment's state or input forbids."""
    return render(
        request,
        "error.html",
        {"title": "Not possible now", "message": message, "back": key},
        user=user,
        status_code=status_code,
    )


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_class=HTMLResponse)
def experiment_list(
    request: Request,
    session: SessionDep,
    now: NowDep,
    user: ViewerDep,
    status: StatusFilter = None,
) -> HTMLResponse:
    """Every experiment with its progress towards sample size and duration."""
    listed = experiments.list_experiments(session, status=status or None)
    users = editing.exposed_users(session)
    rows = []
    for e in listed:
        elapsed = 0.0
        if e.started_at is not None:
            elapsed = ((e.stopped_at or now) - e.started_at).total_seconds()
        rows.append(
            {
                "experiment": e,
                "users": users.get(e.id, 0),
                "users_share": min(1.0, users.get(e.id, 0) / e.sample_size),
                "days": elapsed / 86_400,
                "days_required": max(1, e.minimum_duration_seconds / 86_400),
                "time_share": min(1.0, elapsed / max(1, e.minimum_duration_seconds)),
            }
        )
    return render(
        request,
        "experiments.html",
        {"rows": rows, "status": status or ""},
        user=user,
    )


def _form_context(
    form: ExperimentForm,
    *,
    errors: dict[str, str] | None = None,
    experiment: Experiment | None = None,
    calc: Any = None,
    spec_json: str | None = None,
) -> dict[str, Any]:
    return {
        "form": form,
        "rows": form.padded(),
        "errors": errors or {},
        "experiment": experiment,
        "metrics": METRICS,
        "recommenders": list(RECOMMENDER_TYPES),
        "calc_result": calc,
        "calc_open": calc is not None
        or any(k.startswith("calc_") for k in errors or {}),
        "spec_json": spec_json,
        "max_rows": MAX_ROWS,
    }


@router.get("/experiments/new", response_class=HTMLResponse)
def new_experiment_form(request: Request, user: EditorDep) -> HTMLResponse:
    return render(
        request,
        "experiment_form.html",
        _form_context(ExperimentForm.blank()),
        user=user,
    )


def _form_actions(
    request: Request,
    session: Any,
    now: Any,
    form: ExperimentForm,
    action: str,
    user: SignedIn,
    experiment: Experiment | None,
) -> HTMLResponse | None:
    """The form's helper buttons: add a variant row, the calculator."""
    if action == "add_variant":
        if len(form.variants) < MAX_ROWS:
            form.variants.append(VariantRow())
        return render(
            request,
            "experiment_form.html",
            _form_context(form, experiment=experiment),
            user=user,
        )
    if action in ("calculate", "use_calc"):
        variants = len([r for r in form.variants if not r.blank])
        result, errors = calculate(
            form.calc,
            variants=variants,
            daily_users=editing.daily_users(session, now=now),
        )
        if result is not None and action == "use_calc":
            form.sample_size = str(result.total)
        return render(
            request,
            "experiment_form.html",
            _form_context(form, errors=errors, experiment=experiment, calc=result),
            user=user,
            status_code=status.HTTP_200_OK if result else 422,
        )
    return None


@router.post("/experiments/new", dependencies=[CsrfChecked])
async def create_experiment(
    request: Request, session: SessionDep, now: NowDep, user: EditorDep
) -> Response:
    """Create a draft from the form, or re-show it with a message per field."""
    raw = await request.form()
    form = ExperimentForm.parse(raw)
    action = str(raw.get("action", "save"))

    def handle() -> Response:
        shown = _form_actions(request, session, now, form, action, user, None)
        if shown is not None:
            return shown
        spec, errors, data = to_spec(form)
        if spec is not None:
            try:
                experiments.create_experiment(session, spec=spec, now=now)
            except Conflict as error:
                errors = {"key": str(error)}
            else:
                audit.record(
                    session,
                    actor=user.actor,
                    action="create",
                    target=spec.key,
                    now=now,
                    detail={"spec": data},
                )
                session.commit()
                return see(f"/experiments/{spec.key}")
        return render(
            request,
            "experiment_form.html",
            _form_context(form, errors=errors, spec_json=json.dumps(data, indent=2)),
            user=user,
            status_code=422,
        )

    return await run_in_threadpool(handle)


@router.get("/experiments/{key}/edit", response_class=HTMLResponse)
def edit_experiment_form(
    request: Request, session: SessionDep, user: EditorDep, key: str
) -> HTMLResponse:
    try:
        experiment = experiments.get_experiment(session, key=key)
    except NotFound as error:
        return not_found(request, user, error)
    return render(
        request,
        "experiment_form.html",
        _form_context(ExperimentForm.of(experiment), experiment=experiment),
        user=user,
    )


@router.post("/experiments/{key}/edit", dependencies=[CsrfChecked])
async def edit_experiment(
    request: Request, session: SessionDep, now: NowDep, user: EditorDep, key: str
) -> Response:
    """A draft changes freely; a running or stopped one only in its words."""
    raw = await request.form()
    form = ExperimentForm.parse(raw)
    action = str(raw.get("action", "save"))

    def handle() -> Response:
        try:
            experiment = experiments.get_experiment(session, key=key)
        except NotFound as error:
            return not_found(request, user, error)
        form.key = experiment.key
        if experiment.status != "draft":
            editing.describe(
                session, key=key, name=form.name, hypothesis=form.hypothesis
            )
            audit.record(
                session,
                actor=user.actor,
                action="edit",
                target=key,
                now=now,
                detail={"name": form.name, "hypothesis": form.hypothesis},
            )
            session.commit()
            return see(f"/experiments/{key}")
        shown = _form_actions(request, session, now, form, action, user, experiment)
        if shown is not None:
            return shown
        spec, errors, data = to_spec(form)
        if spec is not None:
            editing.update_draft(session, key=key, spec=spec)
            audit.record(
                session,
                actor=user.actor,
                action="edit",
                target=key,
                now=now,
                detail={"spec": data},
            )
            session.commit()
            return see(f"/experiments/{key}")
        return render(
            request,
            "experiment_form.html",
            _form_context(
                form,
                errors=errors,
                experiment=experiment,
                spec_json=json.dumps(data, indent=2),
            ),
            user=user,
            status_code=422,
        )

    return await run_in_threadpool(handle)


def _transition(
    request: Request,
    session: Any,
    now: Any,
    user: SignedIn,
    key: str,
    action: str,
) -> Response:
    change = (
        experiments.start_experiment
        if action == "start"
        else experiments.stop_experiment
    )
    try:
        change(session, key=key, now=now)
    except NotFound as error:
        return not_found(request, user, error)
    except InvalidState as error:
        return not_possible(request, user, key, str(error), status.HTTP_409_CONFLICT)
    audit.record(session, actor=user.actor, action=action, target=key, now=now)
    session.commit()
    return see(f"/experiments/{key}")


@router.post("/experiments/{key}/start", dependencies=[CsrfChecked])
def start_experiment(
    request: Request, session: SessionDep, now: NowDep, user: EditorDep, key: str
) -> Response:
    return _transition(request, session, now, user, key, "start")


@router.post("/experiments/{key}/stop", dependencies=[CsrfChecked])
def stop_experiment(
    request: Request, session: SessionDep, now: NowDep, user: EditorDep, key: str
) -> Response:
    return _transition(request, session, now, user, key, "stop")


@router.post("/experiments/{key}/ramp", dependencies=[CsrfChecked])
def ramp_experiment(
    request: Request,
    session: SessionDep,
    now: NowDep,
    user: EditorDep,
    key: str,
    traffic_percent: Annotated[str, Form()] = "",
) -> Response:
    """Set the share of users enrolled, in percent."""
    try:
        traffic = float(traffic_percent) / 100
        experiments.ramp_experiment(session, key=key, traffic=traffic, now=now)
    except NotFound as error:
        return not_found(request, user, error)
    except InvalidState as error:
        return not_possible(request, user, key, str(error), status.HTTP_409_CONFLICT)
    except (ValueError, InvalidInput) as error:
        message = (
            str(error)
            if isinstance(error, InvalidInput)
            else "traffic must be a number of percent, from 1 to 100"
        )
        return not_possible(
            request, user, key, message, status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    audit.record(
        session,
        actor=user.actor,
        action="ramp",
        target=key,
        now=now,
        detail={"traffic": traffic},
    )
    session.commit()
    return see(f"/experiments/{key}")
