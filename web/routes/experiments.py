from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from analysis.choices import analysis_settings
from analysis.report import build_report, report_to_dict
from experimentation import audit, experiments
from experimentation.errors import InvalidInput
from experimentation.spec import ExperimentSpec
from web.deps import AnalystKeyDep, EditorKeyDep, NowDep, SessionDep
from web.schemas import ERROR_RESPONSES, ExperimentPublic, RampIn

log = logging.getLogger(__name__)
router = APIRouter(
    prefix="/v1/experiments", tags=["experiments"], responses=ERROR_RESPONSES
)

Status = Annotated[str | None, Query(pattern="^(draft|running|stopped)$")]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_experiment(
    session: SessionDep, now: NowDep, key: EditorKeyDep, spec: ExperimentSpec
) -> ExperimentPublic:
    """Define an experiment (draft until started)."""
    experiment = experiments.create_experiment(session, spec=spec, now=now)
    audit.record(session, actor=key.actor, action="create", target=spec.key, now=now)
    session.commit()
    return ExperimentPublic.of(experiment)


@router.get("")
def list_experiments(
    session: SessionDep, _key: AnalystKeyDep, status: Status = None
) -> list[ExperimentPublic]:
    """All experiments, newest first, optionally of one status."""
    return [
        ExperimentPublic.of(e)
        for e in experiments.list_experiments(session, status=status)
    ]


@router.get("/{key}")
def read_experiment(
    session: SessionDep, _key: AnalystKeyDep, key: str
) -> ExperimentPublic:
    return ExperimentPublic.of(experiments.get_experiment(session, key=key))


@router.post("/{key}/start")
def start_experiment(
    session: SessionDep, now: NowDep, client: EditorKeyDep, key: str
) -> ExperimentPublic:
    """Start serving; variants and salt are frozen from here on."""
    experiment = experiments.start_experiment(session, key=key, now=now)
    audit.record(session, actor=client.actor, action="start", target=key, now=now)
    session.commit()
    return ExperimentPublic.of(experiment)


@router.post("/{key}/stop")
def stop_experiment(
    session: SessionDep, now: NowDep, client: EditorKeyDep, key: str
) -> ExperimentPublic:
    """Stop serving; the analysis window ends now."""
    experiment = experiments.stop_experiment(session, key=key, now=now)
    audit.record(session, actor=client.actor, action="stop", target=key, now=now)
    session.commit()
    return ExperimentPublic.of(experiment)


@router.post("/{key}/ramp")
def ramp_experiment(
    session: SessionDep, now: NowDep, client: EditorKeyDep, key: str, ramp: RampIn
) -> ExperimentPublic:
    """Change the share of users enrolled; variants, weights and salt stay."""
    experiment = experiments.ramp_experiment(
        session, key=key, traffic=ramp.traffic, now=now
    )
    audit.record(
        session,
        actor=client.actor,
        action="ramp",
        target=key,
        now=now,
        detail={"traffic": ramp.traffic},
    )
    session.commit()
    return ExperimentPublic.of(experiment)


@router.get("/{key}/results")
def read_results(
    session: SessionDep,
    now: NowDep,
    _key: AnalystKeyDep,
    key: str,
    correction: Annotated[str, Query(description="holm or benjamini_hochberg")] = (
        "holm"
    ),
    family: Annotated[
        str | None, Query(description="Metrics in the correction family, by comma")
    ] = None,
    primary: Annotated[str | None, Query(description="The ship metric")] = None,
    winsorize: Annotated[
        float | None, Query(ge=0.5, lt=1.0, description="Cap at this percentile")
    ] = None,
    cuped: bool = True,
) -> dict[str, Any]:
    """The result report: interim until sample size and minimum duration are met."""
    try:
        settings = analysis_settings(
            correction=correction,
            family=family,
            primary=primary,
            winsorize=winsorize,
            cuped=cuped,
        )
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    report = build_report(session, key=key, now=now, settings=settings)
    session.commit()  # keeps the per-user values the report brought up to date
    return report_to_dict(report)
