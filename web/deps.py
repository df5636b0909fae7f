"""Dependencies for the routes, exposed as Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from experimentation.serving import RecommendationService
from experimentation.settings import Settings
from web.security import ApiClient, require
from web.state import AppState

# The dependencies are async because none of them blocks: a sync dependency
# costs a hop to the thread pool on every request. Handlers that write commit
# themselves, inside their own (threaded) body.


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.splitrec
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[Session]:
    """One session per request; what the handler did not commit is rolled back."""
    session = state.sessions()
    try:
        yield session
    finally:
        session.close()


async def get_now(state: StateDep) -> datetime:
    return state.clock()


async def get_service(state: StateDep) -> RecommendationService:
    return state.service


async def get_settings(state: StateDep) -> Settings:
    return state.settings


SessionDep = Annotated[Session, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]
ServiceDep = Annotated[RecommendationService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

# API keys by what the route needs; admin keys pass everywhere (web/security.py).
AppKeyDep = Annotated[ApiClient, require("app")]
AnalystKeyDep = Annotated[ApiClient, require("analyst")]
EditorKeyDep = Annotated[ApiClient, require("editor")]
