"""What the app holds for its lifetime: engine, recommendation service, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from experimentation.ingest import EventQueue, EventWriter
from experimentation.serving import RecommendationService
from experimentation.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    service: RecommendationService
    clock: Clock
    events: EventQueue | None
    """None when events are stored within the request (event_queue=sync)."""
    writer: EventWriter | None
