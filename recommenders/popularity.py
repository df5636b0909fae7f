"""Most popular items: summed training profile weight, the same list for everyone."""

from __future__ import annotations

from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from recommenders._shared import FallbackRecommender, fitted, positive_history
from recommenders.data import Catalog, InteractionLog, UserHistory


class PopularityConfig(BaseModel):
    """Settings of the popularity recommender."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    half_life_days: float | None = Field(default=None, ge=0.01, le=36_500)
    """When set, an event's weight halves every this many days before the newest
    training event, so that recent favourites rise; None sums weights as they are."""


class Popularity(FallbackRecommender):
    """Ranks items by their summed positive profile weight in the training log."""

    def __init__(self, config: PopularityConfig | None = None) -> None:
        self.config = config or PopularityConfig()
        self._scores: np.ndarray | None = None

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        weight = log.weight.astype(np.float64)
        if self.config.half_life_days is not None and len(log):
            age_days = (float(log.timestamp.max()) - log.timestamp) / 86_400.0
            weight = weight * np.exp2(-age_days / self.config.half_life_days)
        scores = np.zeros(len(catalog), dtype=np.float64)
        np.add.at(scores, log.item_index, weight)
        top = float(scores.max()) if scores.size else 0.0
        self._scores = scores / top if top > 0 else scores
        return self

    def _score(self, history: UserHistory) -> np.ndarray | None:
        scores = fitted(self, self._scores)
        items, _ = positive_history(history, scores.shape[0])
        if items.size == 0:
            return None
        return scores.copy()
