"""What every recommender offers: fit on data objects, score the catalogue, top-k."""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from recommenders.data import Catalog, InteractionLog, UserHistory


@dataclass(frozen=True)
class Recommendation:
    item_index: np.ndarray
    """Dense catalogue indices, best first."""
    scores: np.ndarray
    fallback: bool = False
    """True when the model knew nothing of the user and served popularity."""


class Recommender(ABC):
    """A fitted model scores every catalogue item for one user's history."""

    @abstractmethod
    def fit(self, catalog: Catalog, log: InteractionLog) -> Self: ...

    @abstractmethod
    def score(self, history: UserHistory) -> np.ndarray:
        """A finite float score for every catalogue item; higher is better."""

    def recommend(self, history: UserHistory, k: int) -> Recommendation:
        scores = np.asarray(self.score(history), dtype=np.float64)
        return top_k(scores, history.item_index, k)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        model = pickle.loads(Path(path).read_bytes())
        if not isinstance(model, cls):
            raise TypeError(
                f"{path} holds a {type(model).__name__}, not {cls.__name__}"
            )
        return model


def top_k(
    scores: np.ndarray, exclude: np.ndarray, k: int, *, fallback: bool = False
) -> Recommendation:
    """The k best items not in exclude; equal scores go to the lower item index."""
    scores = scores.astype(np.float64, copy=True)
    # Indices outside the catalogue (an item deleted since the history was
    # read) cannot be recommended anyway; indexing with them would raise.
    exclude = np.asarray(exclude, dtype=np.int64)
    scores[exclude[(exclude >= 0) & (exclude < scores.size)]] = -np.inf
    available = int(np.count_nonzero(np.isfinite(scores)))
    k = min(k, available)
    if k <= 0:
        empty = np.empty(0, dtype=np.int64)
        return Recommendation(empty, np.empty(0), fallback)
    # argpartition finds the k best in O(n); ties at the cut are settled by the
    # stable sort below only among the candidates, so widen the cut to the
    # whole tie group first.
    kth = np.partition(scores, -k)[-k]
    candidates = np.flatnonzero(scores >= kth)
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    chosen = candidates[order]
    return Recommendation(chosen.astype(np.int64), scores[chosen], fallback)
