from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query

from experimentation.events import IDENTIFIER_PATTERN
from web.deps import AppKeyDep, NowDep, ServiceDep, SessionDep, SettingsDep
from web.schemas import ERROR_RESPONSES, RecommendationsPublic

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["recommendations"], responses=ERROR_RESPONSES)

IdText = Annotated[str, Query(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)]


@router.get("/recommendations")
def get_recommendations(
    session: SessionDep,
    service: ServiceDep,
    settings: SettingsDep,
    now: NowDep,
    _key: AppKeyDep,
    user_id: IdText,
    experiment: IdText,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    page: Annotated[
        str, Query(min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    ] = "home",
) -> RecommendationsPublic:
    """Assign the user, serve their variant's top-k and log the exposure."""
    served = service.recommend(
        session,
        experiment_key=experiment,
        user_id=user_id,
        k=min(k, settings.max_k),
        page=page,
        now=now,
    )
    session.commit()
    return RecommendationsPublic.model_validate(served, from_attributes=True)
