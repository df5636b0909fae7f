"""Reads the catalogue and interaction history out of the database into the data
objects recommenders take, and one user's live history per request."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from experimentation.embedding_store import IMAGE_KEY, load_vectors
from experimentation.models import Event, Item
from recommenders.data import Catalog, InteractionLog, UserHistory
from recommenders.weights import HAVING_TYPES, ProfileWeights

log = logging.getLogger(__name__)

# A user's latest searches read as explicit intent (newest last).
RECENT_QUERIES = 5


def load_catalog(session: Session) -> Catalog:
    rows = session.execute(
        select(
            Item.item_id,
            Item.title,
            Item.description,
            Item.category,
            Item.subcategory,
            Item.brand,
            Item.price,
            Item.rating,
            Item.published_at,
            Item.attributes,
        ).order_by(Item.id)
    ).all()
    item_ids = [r.item_id for r in rows]
    return Catalog(
        item_ids=item_ids,
        titles=[r.title or "" for r in rows],
        descriptions=[r.description or "" for r in rows],
        categories=[_categories(r.category, r.subcategory, r.attributes) for r in rows],
        brands=[r.brand for r in rows],
        prices=np.array([_num(r.price) for r in rows], dtype=np.float64),
        ratings=np.array([_num(r.rating) for r in rows], dtype=np.float64),
        published=np.array(
            [r.published_at.timestamp() if r.published_at else np.nan for r in rows],
            dtype=np.float64,
        ),
        # Imported with the items; NaN rows for items without one, None when
        # no item has one.
        image_embeddings=load_vectors(session, IMAGE_KEY, item_ids),
    )


def _categories(
    category: str | None, subcategory: str | None, attributes: dict[str, Any] | None
) -> list[str]:
    genres = (attributes or {}).get("genres")
    if isinstance(genres, list) and genres:
        return [str(g) for g in genres]
    return [c for c in (category, subcategory) if c]


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def load_interactions(
    session: Session, catalog: Catalog, weights: ProfileWeights
) -> InteractionLog:
    """Every event that says a user has an item, as training interactions."""
    started = time.perf_counter()
    rows = session.execute(
        select(
            Event.user_id,
            Event.item_id,
            Event.type,
            Event.value,
            Event.dwell_seconds,
            Event.occurred_at,
        )
        .where(Event.type.in_(HAVING_TYPES))
        # A fixed order makes the fitted models, and so a replay, repeatable.
        .order_by(Event.id)
    ).all()
    index = catalog.index
    kept = [r for r in rows if r.item_id in index]
    users = np.array([r.user_id for r in kept], dtype=object)
    user_ids, user_index = (
        np.unique(users, return_inverse=True) if kept else (np.array([]), np.array([]))
    )
    types = np.array([r.type for r in kept], dtype=object)
    value = np.array([_num(r.value) for r in kept], dtype=np.float64)
    dwell = np.array([_num(r.dwell_seconds) for r in kept], dtype=np.float64)
    interactions = InteractionLog(
        user_ids=[str(u) for u in user_ids],
        user_index=np.asarray(user_index, dtype=np.int32),
        item_index=np.array([index[r.item_id] for r in kept], dtype=np.int32),
        weight=weights.of(types, dwell, value),
        rating=np.where(types == "rating", value, np.nan).astype(np.float32),
        timestamp=np.array([r.occurred_at.timestamp() for r in kept], dtype=np.float64),
        n_items=len(catalog),
    )
    log.info(
        "interactions loaded",
        extra={
            "events": len(kept),
            "users": len(user_ids),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return interactions


def load_history(
    session: Session,
    *,
    user_id: str,
    catalog: Catalog,
    interactions: InteractionLog,
    weights: ProfileWeights,
) -> UserHistory:
    """The user's items, summed profile weights and latest searches, as stored
    right now (one query)."""
    rows = session.execute(
        select(Event.item_id, Event.type, Event.value, Event.dwell_seconds, Event.query)
        .where(
            Event.user_id == user_id,
            Event.type.in_((*HAVING_TYPES, "search")),
        )
        # Summing in a fixed order keeps scores, and so lists, repeatable.
        .order_by(Event.id)
    ).all()
    queries = tuple(r.query for r in rows if r.type == "search" and r.query)[
        -RECENT_QUERIES:
    ]
    position = interactions.user_position.get(user_id)
    index = catalog.index
    kept = [r for r in rows if r.type != "search" and r.item_id in index]
    if not kept:
        return UserHistory(user_position=position, queries=queries)
    items = np.array([index[r.item_id] for r in kept], dtype=np.int64)
    event_weights = weights.of(
        np.array([r.type for r in kept], dtype=object),
        np.array([_num(r.dwell_seconds) for r in kept]),
        np.array([_num(r.value) for r in kept]),
    )
    unique, inverse = np.unique(items, return_inverse=True)
    summed = np.bincount(inverse, weights=event_weights).astype(np.float32)
    return UserHistory(
        item_index=unique,
        weight=summed,
        user_position=position,
        queries=queries,
    )
