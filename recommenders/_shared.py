"""What every splitrec model shares: the popularity fallback and history helpers."""

from __future__ import annotations

from abc import abstractmethod
from typing import TypeVar

import numpy as np

from recommenders.base import Recommendation, Recommender, top_k
from recommenders.data import InteractionLog, UserHistory

T = TypeVar("T")


class NotFittedError(RuntimeError):
    """A model was asked to score before fit()."""


def fitted(model: object, value: T | None) -> T:
    """The fitted state `value`, or NotFittedError naming the model."""
    if value is None:
        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit()")
    return value


def item_popularity(log: InteractionLog) -> np.ndarray:
    """Summed training profile weight per item (the positives), float64."""
    popularity = np.zeros(log.n_items, dtype=np.float64)
    np.add.at(popularity, log.item_index, log.weight.astype(np.float64))
    return popularity


def positive_history(
    history: UserHistory, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Items with a positive profile weight, and those weights, within the catalogue.

    Duplicated item indices are summed so that callers may treat items as unique.
    """
    items = np.asarray(history.item_index, dtype=np.int64)
    weights = np.asarray(history.weight, dtype=np.float64)
    keep = (weights > 0) & (items >= 0) & (items < n_items) & np.isfinite(weights)
    items, weights = items[keep], weights[keep]
    if items.size > 1 and np.unique(items).size != items.size:
        items, inverse = np.unique(items, return_inverse=True)
        weights = np.bincount(inverse, weights=weights).astype(np.float64)
    return items, weights


def candidate_mask(history: UserHistory, n_items: int) -> np.ndarray:
    """True for items the user does not have yet."""
    mask = np.ones(n_items, dtype=bool)
    items = np.asarray(history.item_index, dtype=np.int64)
    mask[items[(items >= 0) & (items < n_items)]] = False
    return mask


class FallbackRecommender(Recommender):
    """A recommender that serves popularity to users it knows nothing about.

    Subclasses implement `_score`, returning None when the history tells the
    model nothing; `score` then gives popularity and `recommend` marks the list
    as a fallback.
    """

    _popularity: np.ndarray | None = None

    def _fit_popularity(self, log: InteractionLog) -> None:
        popularity = item_popularity(log)
        top = float(popularity.max()) if popularity.size else 0.0
        self._popularity = popularity / top if top > 0 else popularity

    @property
    def popularity(self) -> np.ndarray:
        """Training popularity scaled to [0, 1]; the fallback scores."""
        return fitted(self, self._popularity)

    @abstractmethod
    def _score(self, history: UserHistory) -> np.ndarray | None:
        """Scores for every item, or None when the model cannot say anything."""

    def score(self, history: UserHistory) -> np.ndarray:
        scores = self._score(history)
        return self.popularity.copy() if scores is None else scores

    def recommend(self, history: UserHistory, k: int) -> Recommendation:
        scores = self._score(history)
        if scores is None:
            return top_k(self.popularity, history.item_index, k, fallback=True)
        return top_k(scores, history.item_index, k)
