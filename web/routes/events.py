from __future__ import annotations

import logging

import redis
from fastapi import APIRouter, Body, Request, Response, status
from pydantic import ValidationError

from experimentation.errors import InvalidInput
from experimentation.events import (
    INVALIDATING_TYPES,
    EventIn,
    check_clock,
    store_events,
)
from web.deps import AppKeyDep, NowDep, ServiceDep, SessionDep, SettingsDep
from web.errors import PayloadTooLarge
from web.schemas import ERROR_RESPONSES, IngestPublic

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["events"], responses=ERROR_RESPONSES)


@router.post("/events")
def post_events(
    session: SessionDep,
    service: ServiceDep,
    settings: SettingsDep,
    now: NowDep,
    _key: AppKeyDep,
    request: Request,
    response: Response,
    body: EventIn | list[EventIn] = Body(),  # noqa: B008 (FastAPI's idiom)
) -> IngestPublic:
    """Take one event or a batch (at most 1,000).

    Queued (202): a writer stores them shortly; an event_id already stored is
    skipped then. Stored in the request (200, when configured so): the answer
    counts what was new.
    """
    events = body if isinstance(body, list) else [body]
    if len(events) > settings.max_batch_events:
        raise PayloadTooLarge(
            f"a batch holds at most {settings.max_batch_events} events; "
            f"got {len(events)}"
        )
    try:
        check_clock(events, now)
    except (ValueError, ValidationError) as error:
        raise InvalidInput(str(error)) from error
    state = request.app.state.splitrec
    if state.events is not None:
        try:
            # Stored by the writer; it invalidates the users' caches then.
            state.events.submit(events, now)
        except redis.RedisError as error:
            # The queue is down: store them here rather than lose them.
            log.warning(
                "event queue unavailable, storing in the request",
                extra={"error": type(error).__name__},
            )
        else:
            response.status_code = status.HTTP_202_ACCEPTED
            return IngestPublic(received=len(events), queued=True)
    result = store_events(session, events=events, now=now)
    session.commit()
    # After the commit, so that the next request reads the new history.
    # Impressions and session markers change nothing a recommender reads, so
    # they leave the cache alone; anything else the user does invalidates it.
    service.invalidate(
        {event.user_id for event in events if event.type in INVALIDATING_TYPES}
    )
    log.info(
        "events stored", extra={"received": result.received, "stored": result.stored}
    )
    return IngestPublic(
        received=result.received,
        queued=False,
        stored=result.stored,
        duplicates=result.duplicates,
    )
