"""Changing an experiment after it was created: everything while it is a draft;
once it runs, its variants and salt are frozen and only the words may change."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from experimentation.errors import InvalidState
from experimentation.experiments import get_experiment
from experimentation.models import Event, Experiment, Exposure, Variant
from experimentation.spec import ExperimentSpec


def update_draft(session: Session, *, key: str, spec: ExperimentSpec) -> Experiment:
    """Replace a draft's definition; its key and salt stay."""
    experiment = get_experiment(session, key=key)
    if experiment.status != "draft":
        raise InvalidState(
            f"experiment {key!r} is {experiment.status}; its variants are frozen"
        )
    shares = spec.variant_shares()
    experiment.name = spec.name or key
    experiment.hypothesis = spec.hypothesis
    experiment.sample_size = spec.sample_size
    experiment.minimum_duration_seconds = spec.minimum_duration_seconds
    experiment.metrics = list(spec.metrics)
    experiment.variants.clear()
    session.flush()  # the old rows go before new ones take their keys
    experiment.variants.extend(
        Variant(
            key=variant_key,
            name=variant.name or variant_key,
            position=position,
            weight=shares[variant_key],
            recommender=variant.type,
            params=variant.params,
        )
        for position, (variant_key, variant) in enumerate(spec.variants.items())
    )
    session.flush()
    return experiment


def describe(session: Session, *, key: str, name: str, hypothesis: str) -> Experiment:
    """Change the name and hypothesis, which are free in every status."""
    experiment = get_experiment(session, key=key)
    experiment.name = name.strip()[:256] or key
    experiment.hypothesis = hypothesis.strip()[:10_000]
    return experiment


def exposed_users(session: Session) -> dict[int, int]:
    """Experiment id -> distinct users exposed so far."""
    rows = session.execute(
        select(
            Exposure.experiment_id, func.count(func.distinct(Exposure.user_id))
        ).group_by(Exposure.experiment_id)
    ).all()
    return {int(experiment_id): int(users) for experiment_id, users in rows}


def daily_users(session: Session, *, now: datetime, days: int = 7) -> float:
    """Recent traffic: distinct users a day over the last `days` days.

    Users served recommendations count; without any, users who sent events.
    """
    since = now - timedelta(days=days)
    served = session.scalar(
        select(func.count(func.distinct(Exposure.user_id))).where(
            Exposure.served_at >= since, Exposure.served_at <= now
        )
    )
    if not served:
        served = session.scalar(
            select(func.count(func.distinct(Event.user_id))).where(
                Event.occurred_at >= since, Event.occurred_at <= now
            )
        )
    return float(served or 0) / days
