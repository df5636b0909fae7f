from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from experimentation.events import insert_rows
from experimentation.serving import ModelStore
from recommenders.weights import ProfileWeights
from tests.utils.factories import add_catalogue, add_history


def _rating(user: str, item: str) -> dict[str, object]:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return {
        "event_id": f"r-{user}-{item}",
        "user_id": user,
        "item_id": item,
        "type": "rating",
        "value": 5.0,
        "dwell_seconds": None,
        "session_id": None,
        "request_id": None,
        "query": None,
        "occurred_at": at,
        "received_at": at,
    }


def test_model_store_refresh_refits_models_in_use(engine: Engine) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=10)
        session.commit()
    store = ModelStore(engine, ProfileWeights())
    before = store.model("popularity", {})
    assert len(store.snapshot().interactions.user_ids) == 10
    with Session(engine) as session:
        insert_rows(session, [_rating(f"new{n}", "item-39") for n in range(30)])
        session.commit()
    store.refresh()
    after = store.snapshot()
    assert len(after.interactions.user_ids) == 40
    # Already fitted on the new data: no request pays for the fit.
    assert set(after.models) == {next(iter(after.configs))}
    assert after.models[next(iter(after.models))] is not before
    from recommenders.data import UserHistory

    top = store.model("popularity", {}).recommend(UserHistory(), 1)
    assert after.catalog.item_ids[int(top.item_index[0])] == "item-39"


def test_model_store_background_refresh_swaps_snapshot(engine: Engine) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=5)
        session.commit()
    store = ModelStore(engine, ProfileWeights())
    first = store.snapshot()
    stop = store.start_refreshing(0.05)
    try:
        deadline = time.monotonic() + 5
        while store.snapshot() is first and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
    assert store.snapshot() is not first
