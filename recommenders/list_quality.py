"""Quality of one served list: diversity, freshness and novelty, the guardrails
that sit next to click-through rate in an experiment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recommenders._shared import item_popularity
from recommenders.data import Catalog, InteractionLog
from recommenders.metrics import genre_entropy

DAY = 86_400.0


@dataclass(frozen=True)
class ListQuality:
    category_entropy: float
    """Shannon entropy (bits) of the list's category mix; each item spreads a
    weight of 1 over its categories."""
    fresh_share: float
    """Share of the top positions held by new items."""
    mean_popularity_rank: float
    """Mean rank of the items by training popularity (1 = most popular);
    higher means more novel."""


class ListQualityMeter:
    """Precomputes per-item facts once per data snapshot; scores lists in O(k)."""

    def __init__(
        self,
        catalog: Catalog,
        log: InteractionLog,
        *,
        fresh_window_days: float = 365.0,
        top_positions: int = 5,
    ) -> None:
        self.top_positions = top_positions
        names = sorted({c for tags in catalog.categories for c in tags})
        column = {name: j for j, name in enumerate(names)}
        rows, cols, vals = [], [], []
        for i, tags in enumerate(catalog.categories):
            for tag in set(tags):
                rows.append(i)
                cols.append(column[tag])
                vals.append(1.0 / len(set(tags)))
        self.categories = sparse.csr_matrix(
            (vals, (rows, cols)), shape=(len(catalog), max(1, len(names)))
        )
        popularity = item_popularity(log)
        # Stable: equal popularity goes to the lower item index.
        order = np.lexsort((np.arange(len(catalog)), -popularity))
        self.popularity_rank = np.empty(len(catalog), dtype=np.float64)
        self.popularity_rank[order] = np.arange(1, len(catalog) + 1)
        # "New" is measured from the newest item in the catalogue, which in a
        # live catalogue is about today, and keeps replays of historical data
        # (MovieLens is from the 1990s) meaningful.
        published = catalog.published
        known = np.isfinite(published)
        newest = float(published[known].max()) if known.any() else np.nan
        self.fresh = known & (published >= newest - fresh_window_days * DAY)

    def measure(self, item_index: np.ndarray) -> ListQuality | None:
        if item_index.size == 0:
            return None
        items = np.asarray(item_index, dtype=np.int64)
        entropy = genre_entropy(items.reshape(1, -1), self.categories)[0]
        top = items[: self.top_positions]
        return ListQuality(
            category_entropy=round(float(entropy), 6),
            fresh_share=round(float(self.fresh[top].mean()), 6),
            mean_popularity_rank=round(float(self.popularity_rank[items].mean()), 3),
        )
