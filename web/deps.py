"""Dependencies for the routes, exposed as Annotated aliases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from experimentation.serving import RecommendationService
from experimentation.settings import Settings
from web.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.splitrec
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One session per request: committed when the handler returns, else rolled back."""
    session = state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_now(state: StateDep) -> datetime:
    return state.clock()


def get_service(state: StateDep) -> RecommendationService:
    return state.service


def get_settings(state: StateDep) -> Settings:
    return state.settings


SessionDep = Annotated[Session, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]
ServiceDep = Annotated[RecommendationService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
