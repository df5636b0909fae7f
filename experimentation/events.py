"""Outcome events from apps: their schema, and storage exactly once by event_id."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from experimentation.models import Event

log = logging.getLogger(__name__)

EventType = Literal[
    "impression",
    "click",
    "view",
    "purchase",
    "session_start",
    "session_end",
    "search",
    "rating",
]
INVALIDATING_TYPES = frozenset({"click", "view", "purchase", "rating", "search"})
ITEM_TYPES = frozenset({"impression", "click", "view", "purchase", "rating"})
# Clients' clocks drift; more than this ahead of the server is a bug, not drift.
MAX_CLOCK_AHEAD = timedelta(days=1)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)

# Numbers as numbers: true and "12" are refused, not read as 1.0 and 12.0.
StrictNumber = Annotated[float, Strict()]

# Ids are shown in pages and logs: no C0 or C1 control characters, and none of
# Unicode's line separators or bidirectional controls, which make one id
# display as another (a right-to-left override turns "user-1" into "1-resu").
IDENTIFIER_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$"
NO_NUL = r"^[^\x00]*$"
"""Free text: PostgreSQL text cannot hold a NUL character."""
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN),
]


class EventIn(BaseModel):
    """One event as an app sends it."""

    model_config = ConfigDict(extra="forbid")

    event_id: Identifier
    """Unique per event, chosen by the client; a repeat is stored once."""
    user_id: Identifier
    type: EventType
    item_id: Identifier | None = None
    value: StrictNumber | None = Field(default=None, ge=-1e9, le=1e9)
    """Revenue for a purchase; stars for a rating."""
    dwell_seconds: StrictNumber | None = Field(default=None, ge=0, le=86_400)
    """Time on the item for a view; the session's length for session_end."""
    session_id: Identifier | None = None
    request_id: Identifier | None = None
    """The request_id of the recommendation that showed the item, if any."""
    # No NUL: PostgreSQL text cannot hold it.
    query: str | None = Field(default=None, max_length=1_000, pattern=NO_NUL)
    occurred_at: datetime | None = None
    """When it happened (ISO 8601 with offset, or unix seconds); default now."""

    @model_validator(mode="after")
    def _check(self) -> EventIn:
        if self.type in ITEM_TYPES and self.item_id is None:
            raise ValueError(f"a {self.type} event needs an item_id")
        if self.type in ("view", "session_end") and self.dwell_seconds is None:
            raise ValueError(f"a {self.type} event needs dwell_seconds")
        if self.type in ("session_start", "session_end") and self.session_id is None:
            raise ValueError(f"a {self.type} event needs a session_id")
        for name in ("value", "dwell_seconds"):
            number = getattr(self, name)
            if number is not None and not math.isfinite(number):
                raise ValueError(f"{name} must be a finite number")
        if self.type == "purchase" and (self.value is None or self.value < 0):
            raise ValueError("a purchase needs its revenue in value, 0 or more")
        if self.type == "rating" and (self.value is None or not 0 <= self.value <= 10):
            raise ValueError("a rating needs its stars in value, between 0 and 10")
        if self.type == "search" and not self.query:
            raise ValueError("a search event needs its query")
        if self.occurred_at is not None:
            if self.occurred_at.tzinfo is None:
                self.occurred_at = self.occurred_at.replace(tzinfo=UTC)
            if self.occurred_at < EARLIEST:
                raise ValueError("occurred_at is before 1990; check the unit")
        return self


@dataclass(frozen=True)
class IngestResult:
    received: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


def check_clock(events: Sequence[EventIn], now: datetime) -> None:
    """Refuse events dated in the future beyond clock drift."""
    for event in events:
        if event.occurred_at is not None and event.occurred_at > now + MAX_CLOCK_AHEAD:
            raise ValueError(
                f"event {event.event_id!r} occurred_at is more than a day in the future"
            )


def store_events(
    session: Session, *, events: Sequence[EventIn], now: datetime
) -> IngestResult:
    """Insert the events; an event_id already stored (or repeated) is skipped."""
    if not events:
        return IngestResult(received=0, stored=0)
    rows = [event_row(event, now) for event in events]
    stored = insert_rows(session, rows)
    return IngestResult(received=len(rows), stored=stored)


def insert_rows(
    session: Session, rows: list[dict[str, Any]], chunk: int = 5_000
) -> int:
    """Insert event rows, skipping event_ids already stored; returns rows stored."""
    dialect = session.get_bind().dialect.name
    stored = 0
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        if dialect == "postgresql":
            statement: Any = postgresql.insert(Event).on_conflict_do_nothing(
                index_elements=["event_id"]
            )
        elif dialect == "sqlite":
            statement = sqlite.insert(Event).on_conflict_do_nothing(
                index_elements=["event_id"]
            )
        else:  # pragma: no cover - only the two supported databases reach here
            statement = insert(Event)
        result = session.execute(statement.returning(Event.id), part)
        stored += len(result.all())
    return stored


def event_row(event: EventIn, now: datetime) -> dict[str, Any]:
    """The table row of an event received now."""
    return {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "item_id": event.item_id,
        "type": event.type,
        "value": event.value,
        "dwell_seconds": event.dwell_seconds,
        "session_id": event.session_id,
        "request_id": event.request_id,
        "query": event.query,
        "occurred_at": event.occurred_at or now,
        "received_at": now,
    }
