"""User-user k-nearest-neighbours on the interaction (profile weight) matrix.

A user's live item vector (their current history, not their training row) is
compared by cosine with every training user's row; the k most similar users,
excluding the user's own row, vote for items with their similarity as weight.
Everything is one sparse product and one partial sort per request.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.preprocessing import normalize

from recommenders._shared import FallbackRecommender, fitted, positive_history
from recommenders.data import Catalog, InteractionLog, UserHistory

# Breaks exact ties among items no neighbour has (or equal votes) toward popular
# items instead of low item indices; far below any real vote difference.
_TIE_BREAK = 1e-6


class CollaborativeConfig(BaseModel):
    """Settings of the user-kNN recommender."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    neighbours: int = Field(default=30, ge=1, le=1000)
    """How many of the most similar training users vote."""
    min_similarity: float = Field(default=0.0, ge=0, lt=1)
    """Neighbours at or below this cosine similarity do not vote."""
    amplification: float = Field(default=3.0, ge=0, le=10)
    """Votes weigh similarity ** amplification; above 1 the closest users count
    more, which makes lists more personal."""
    popularity_penalty: float = Field(default=0.3, ge=0, le=1)
    """Votes for an item are divided by (its training positives) ** this, so that
    lists reach beyond the most popular items."""


class Collaborative(FallbackRecommender):
    """Scores items by the similarity-weighted votes of the nearest users."""

    def __init__(self, config: CollaborativeConfig | None = None) -> None:
        self.config = config or CollaborativeConfig()
        self._user_items: sparse.csr_matrix | None = None
        self._item_users: sparse.csr_matrix | None = None
        self._damping: np.ndarray | None = None

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        # A deep copy: the log's cached matrix may share index arrays with a
        # shallow conversion, and eliminate_zeros() works in place.
        weights = sparse.csr_matrix(log.weights_matrix, dtype=np.float64, copy=True)
        weights.eliminate_zeros()
        self._user_items = weights
        # items x users with unit-length user rows: one sparse row slice per
        # request gives the cosine of the live vector with every training user.
        self._item_users = sparse.csr_matrix(normalize(weights).T)
        positives = np.asarray((weights > 0).sum(axis=0), dtype=np.float64).ravel()
        self._damping = np.maximum(positives, 1.0) ** -self.config.popularity_penalty
        return self

    def neighbours(self, history: UserHistory) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the voting training users and their cosine similarities."""
        item_users = fitted(self, self._item_users)
        items, weights = positive_history(history, item_users.shape[0])
        if items.size == 0:
            return np.empty(0, np.int64), np.empty(0)
        weights = weights / np.linalg.norm(weights)
        similarity = np.asarray(item_users[items].T @ weights).ravel()
        position = history.user_position
        if position is not None and 0 <= position < similarity.shape[0]:
            similarity[position] = 0.0
        k = min(self.config.neighbours, similarity.shape[0])
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[similarity[top] > self.config.min_similarity]
        return top.astype(np.int64), similarity[top]

    def _score(self, history: UserHistory) -> np.ndarray | None:
        users, similarity = self.neighbours(history)
        if users.size == 0:
            return None
        weights = similarity**self.config.amplification
        votes = np.asarray(fitted(self, self._user_items)[users].T @ weights).ravel()
        votes *= fitted(self, self._damping)
        return votes + _TIE_BREAK * self.popularity
