from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from experimentation.movielens import MovieLens, load
from recommenders.data import Catalog, InteractionLog

ROOT = Path(__file__).resolve().parents[2]


def data_path() -> Path:
    configured = os.environ.get("SPLITREC_DATA")
    return Path(configured) if configured else ROOT.parent / "shared/data/ml-100k"


@pytest.fixture(scope="session")
def movielens() -> MovieLens:
    path = data_path()
    if not path.exists():
        pytest.skip(f"MovieLens 100K not found at {path}")
    return load(path)


def small_catalog() -> Catalog:
    """Eight items; item 7 has no interaction at all (a cold item)."""
    categories = [
        ["Comedy"],
        ["Comedy", "Romance"],
        ["Action"],
        ["Action", "Thriller"],
        ["Drama"],
        ["Drama", "Romance"],
        ["Comedy"],
        ["Action"],
    ]
    return Catalog(
        item_ids=[f"i{i}" for i in range(8)],
        titles=[
            "Funny business",
            "Funny love",
            "Explosions in the city",
            "Explosions at night",
            "A quiet life",
            "A quiet love",
            "Funny again",
            "Explosions return",
        ],
        descriptions=["", "", "car chase", "", "", "", "", "car chase sequel"],
        categories=categories,
        brands=["acme", "acme", None, "bolt", None, None, "acme", "bolt"],
        prices=np.full(8, np.nan),
        ratings=np.full(8, np.nan),
        published=np.array([0, 1, 2, 3, 4, 5, 6, np.nan], dtype=np.float64) * 3e7,
    )


def small_log() -> InteractionLog:
    """Six users. User 5 only has a zero-weight event (had it, disliked it)."""
    events = [
        # (user, item, weight, rating)
        (0, 0, 1.0, 5),
        (0, 1, 1.0, 4),
        (0, 6, 1.0, 5),
        (1, 0, 1.0, 4),
        (1, 1, 1.0, 5),
        (1, 4, 0.0, 2),
        (2, 2, 1.0, 5),
        (2, 3, 1.0, 4),
        (3, 2, 1.0, 4),
        (3, 3, 1.0, 5),
        (3, 0, 1.0, 4),
        (4, 4, 1.0, 4),
        (4, 5, 1.0, 5),
        (4, 0, 1.0, 4),
        (5, 4, 0.0, 1),
    ]
    table = np.array(events, dtype=np.float64)
    return InteractionLog(
        user_ids=[f"u{u}" for u in range(6)],
        user_index=table[:, 0].astype(np.int32),
        item_index=table[:, 1].astype(np.int32),
        weight=table[:, 2].astype(np.float32),
        rating=table[:, 3].astype(np.float32),
        timestamp=np.arange(len(events), dtype=np.float64) * 86_400.0,
        n_items=8,
    )
