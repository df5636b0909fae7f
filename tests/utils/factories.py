"""Small hand-made data for tests: a catalogue, users, histories, experiments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from experimentation.events import insert_rows
from experimentation.models import Exposure, Item, User

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance"]
_event_ids = count()


def flagship_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "rec-algorithm-v2",
        "variants": {
            "control": {"type": "popularity", "name": "Most Popular"},
            "treatment": {"type": "hybrid", "alpha": 0.7, "name": "Hybrid V2"},
        },
        "metrics": [
            "click_through_rate",
            "conversion",
            "avg_session_duration",
            "revenue_per_user",
        ],
        "sampleSize": 10000,
        "minimumDuration": "7d",
    }
    spec.update(overrides)
    return spec


def add_catalogue(session: Session, n_items: int = 40) -> list[str]:
    ids = [f"item-{i}" for i in range(n_items)]
    session.add_all(
        Item(
            item_id=item_id,
            title=f"{GENRES[i % len(GENRES)]} film number {i}",
            description=f"a {GENRES[i % len(GENRES)].lower()} story",
            category=GENRES[i % len(GENRES)],
            price=2.0 + i % 3,
            published_at=datetime(1990 + i % 9, 1, 1, tzinfo=UTC),
            attributes={},
        )
        for i, item_id in enumerate(ids)
    )
    session.flush()
    return ids


def history_items(u: int, items_per_user: int = 6, n_items: int = 40) -> list[int]:
    """The items user u{u} rated in add_history: one genre, a run of titles."""
    per_genre = n_items // len(GENRES)
    return [
        (u % len(GENRES)) + len(GENRES) * ((u + j) % per_genre)
        for j in range(items_per_user)
    ]


def add_history(
    session: Session,
    n_users: int = 30,
    items_per_user: int = 6,
    n_items: int = 40,
    at: datetime | None = None,
) -> list[str]:
    """Users who each rated a run of items of mostly one genre, 4 or 5 stars."""
    at = at or datetime(2026, 10, 1, tzinfo=UTC)
    users = [f"u{u}" for u in range(n_users)]
    session.add_all(User(user_id=u, attributes={}, created_at=at) for u in users)
    rows = []
    for u, user in enumerate(users):
        for j, item in enumerate(history_items(u, items_per_user, n_items)):
            rows.append(
                {
                    "event_id": f"h-{user}-{item}",
                    "user_id": user,
                    "item_id": f"item-{item}",
                    "type": "rating",
                    "value": 4.0 + (j % 2),
                    "dwell_seconds": None,
                    "session_id": None,
                    "request_id": None,
                    "query": None,
                    "occurred_at": at + timedelta(minutes=j),
                    "received_at": at,
                }
            )
    insert_rows(session, rows)
    session.flush()
    return users


def event_row(user: str, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """An events-table row with a fresh event_id; fields override the defaults."""
    row: dict[str, Any] = {
        "event_id": f"e{next(_event_ids)}",
        "user_id": user,
        "item_id": "i1",
        "type": kind,
        "value": None,
        "dwell_seconds": None,
        "session_id": None,
        "request_id": None,
        "query": None,
        "occurred_at": at,
        "received_at": at,
    }
    row.update(fields)
    return row


def expose(
    session: Session,
    experiment: Any,
    variant: int,
    user: str,
    at: datetime,
    **fields: Any,
) -> str:
    """Log an exposure of `user` to variant number `variant`; returns its request_id."""
    request_id = f"r{next(_event_ids)}"
    session.add(
        Exposure(
            experiment_id=experiment.id,
            variant_id=experiment.variants[variant].id,
            user_id=user,
            request_id=request_id,
            page="home",
            items=[],
            from_cache=False,
            served_at=at,
            **fields,
        )
    )
    return request_id
