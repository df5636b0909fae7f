"""Request and response schemas of the JSON API (table models are elsewhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from experimentation.durations import format_duration
from experimentation.models import Experiment


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    position: int


class RecommendationsPublic(BaseModel):
    request_id: str
    experiment: str
    variant: str
    items: list[RecommendedItem]
    from_cache: bool
    enrolled: bool = True
    """False when the user is outside the ramped traffic: they get the
    control's list and no exposure is logged."""


class RampIn(BaseModel):
    traffic: float = Field(gt=0, le=1)
    """Share of users enrolled in the experiment, e.g. 0.25."""


class IngestPublic(BaseModel):
    received: int
    queued: bool
    """True when a writer stores the events shortly (202)."""
    stored: int | None = None
    """New events stored; known only when stored within the request."""
    duplicates: int | None = None


class VariantPublic(BaseModel):
    key: str
    name: str
    weight: float
    type: str
    params: dict[str, Any]


class ExperimentPublic(BaseModel):
    id: str
    name: str
    hypothesis: str
    status: str
    variants: list[VariantPublic]
    metrics: list[str]
    sampleSize: int
    traffic: float
    minimumDuration: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentPublic:
        return cls(
            id=experiment.key,
            name=experiment.name,
            hypothesis=experiment.hypothesis,
            status=experiment.status,
            variants=[
                VariantPublic(
                    key=v.key,
                    name=v.name,
                    weight=v.weight,
                    type=v.recommender,
                    params=v.params,
                )
                for v in experiment.variants
            ],
            metrics=list(experiment.metrics),
            sampleSize=experiment.sample_size,
            traffic=experiment.traffic,
            minimumDuration=format_duration(experiment.minimum_duration_seconds),
            created_at=experiment.created_at,
            started_at=experiment.started_at,
            stopped_at=experiment.stopped_at,
        )


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorPublic(BaseModel):
    """The one error shape of the JSON API."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorPublic, "description": description}


# Documented on every /v1 route, so that clients (and schema fuzzers) know
# every status the API can answer with.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("No API key, or one that is unknown or revoked"),
    403: _error("The key's scope does not allow this route"),
    404: _error("The experiment does not exist"),
    409: _error("The experiment's state forbids this (e.g. stopped)"),
    413: _error("The body or batch is over its limit"),
    422: _error("The input breaks a rule; the message names the field"),
    503: _error("The database is unreachable; retry after Retry-After seconds"),
}
