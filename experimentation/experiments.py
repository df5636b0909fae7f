"""Experiment repository: small functions, the session passed in, keyword-only."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from experimentation.errors import Conflict, InvalidInput, InvalidState, NotFound
from experimentation.models import Experiment, Exposure, Variant
from experimentation.spec import ExperimentSpec

log = logging.getLogger(__name__)

STATUSES = ("draft", "running", "stopped")

# Told the key of every experiment this process starts, stops or deletes, so
# that in-process caches of running experiments drop it at once.
_listeners: list[Callable[[str], None]] = []


def on_change(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)


def _changed(key: str) -> None:
    for listener in _listeners:
        listener(key)


def create_experiment(
    session: Session, *, spec: ExperimentSpec, now: datetime
) -> Experiment:
    if session.scalar(select(Experiment.id).where(Experiment.key == spec.key)):
        raise Conflict(f"experiment {spec.key!r} already exists")
    shares = spec.variant_shares()
    experiment = Experiment(
        key=spec.key,
        name=spec.name or spec.key,
        hypothesis=spec.hypothesis,
        status="draft",
        salt=spec.salt or secrets.token_hex(8),
        sample_size=spec.sample_size,
        minimum_duration_seconds=spec.minimum_duration_seconds,
        metrics=list(spec.metrics),
        traffic=spec.traffic,
        created_at=now,
        variants=[
            Variant(
                key=key,
                name=variant.name or key,
                position=position,
                weight=shares[key],
                recommender=variant.type,
                params=variant.params,
            )
            for position, (key, variant) in enumerate(spec.variants.items())
        ],
    )
    session.add(experiment)
    session.flush()
    log.info("experiment created", extra={"experiment": spec.key})
    return experiment


def get_experiment(session: Session, *, key: str) -> Experiment:
    experiment = session.scalar(
        select(Experiment)
        .where(Experiment.key == key)
        .options(selectinload(Experiment.variants))
    )
    if experiment is None:
        raise NotFound(f"experiment {key!r} does not exist")
    return experiment


def list_experiments(
    session: Session, *, status: str | None = None
) -> list[Experiment]:
    query = select(Experiment).options(selectinload(Experiment.variants))
    if status is not None:
        query = query.where(Experiment.status == status)
    return list(session.scalars(query.order_by(Experiment.created_at.desc())))


def start_experiment(session: Session, *, key: str, now: datetime) -> Experiment:
    experiment = get_experiment(session, key=key)
    if experiment.status == "running":
        raise InvalidState(f"experiment {key!r} is already running")
    if experiment.status == "stopped":
        raise InvalidState(f"experiment {key!r} was stopped; it cannot restart")
    experiment.status = "running"
    experiment.started_at = now
    _changed(key)
    log.info("experiment started", extra={"experiment": key})
    return experiment


def stop_experiment(session: Session, *, key: str, now: datetime) -> Experiment:
    experiment = get_experiment(session, key=key)
    if experiment.status != "running":
        raise InvalidState(
            f"experiment {key!r} is {experiment.status}; only a running one stops"
        )
    experiment.status = "stopped"
    experiment.stopped_at = now
    _changed(key)
    log.info("experiment stopped", extra={"experiment": key})
    return experiment


def ramp_experiment(
    session: Session, *, key: str, traffic: float, now: datetime
) -> Experiment:
    """Change the share of users enrolled; variants and their weights stay."""
    if not 0 < traffic <= 1:
        raise InvalidInput("traffic must be more than 0 and at most 1")
    experiment = get_experiment(session, key=key)
    if experiment.status == "stopped":
        raise InvalidState(f"experiment {key!r} was stopped; it cannot be ramped")
    if experiment.status == "running" and traffic < experiment.traffic:
        raise InvalidState(
            "traffic can only be raised while the experiment runs: lowering it "
            "would move users already exposed out of their variant"
        )
    experiment.traffic = traffic
    _changed(key)
    log.info("experiment ramped", extra={"experiment": key, "traffic": traffic})
    return experiment


def delete_experiment(session: Session, *, key: str) -> None:
    """Remove an experiment with its variants and exposures (the demo's rerun)."""
    experiment = get_experiment(session, key=key)
    session.execute(delete(Exposure).where(Exposure.experiment_id == experiment.id))
    session.delete(experiment)
    session.flush()
    _changed(key)
    log.info("experiment deleted", extra={"experiment": key})


def running_experiment(session: Session, *, key: str) -> Experiment:
    experiment = get_experiment(session, key=key)
    if experiment.status != "running":
        raise InvalidState(
            f"experiment {key!r} is {experiment.status}; recommendations are "
            "served only while it runs"
        )
    return experiment
