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
    max_item_users: int | None = Field(default=2000, ge=1)
    """Neighbour search looks at no more than about this many of an item's users:
    an item with more keeps each with probability max_item_users / its users,
    decided by one seeded draw per user, so that the same users are kept across
    items. Bounds the work per request on a long-tailed catalogue; None keeps
    all (MovieLens 100K's most-rated item has 485 users in train)."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of that draw."""


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
        item_users = sparse.csr_matrix(_unit_rows(weights).T)
        self._item_users = self._cap_item_users(item_users)
        positives = np.asarray((weights > 0).sum(axis=0), dtype=np.float64).ravel()
        self._damping = np.maximum(positives, 1.0) ** -self.config.popularity_penalty
        return self

    def _cap_item_users(self, item_users: sparse.csr_matrix) -> sparse.csr_matrix:
        """Subsample the users of items that have more than max_item_users."""
        cap = self.config.max_item_users
        degree = np.diff(item_users.indptr)
        if cap is None or degree.size == 0 or degree.max() <= cap:
            return item_users
        draw = np.random.default_rng(self.config.seed).random(item_users.shape[1])
        keep_share = np.minimum(1.0, cap / np.maximum(degree, 1))
        rows = np.repeat(np.arange(degree.size), degree)
        keep = draw[item_users.indices] < keep_share[rows]
        indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(rows[keep], minlength=degree.size))]
        )
        return sparse.csr_matrix(
            (item_users.data[keep], item_users.indices[keep], indptr),
            shape=item_users.shape,
        )

    def neighbours(self, history: UserHistory) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the voting training users and their cosine similarities."""
        item_users = fitted(self, self._item_users)
        items, weights = positive_history(history, item_users.shape[0])
        if items.size == 0:
            return np.empty(0, np.int64), np.empty(0)
        weights = weights / np.linalg.norm(weights)
        # Only users who share an item can have a positive cosine: work on the
        # rows of the user's items alone, never on a vector over all users (a
        # million users would cost more than the rest of the request).
        rows = item_users[items]
        contribution = rows.data * np.repeat(weights, np.diff(rows.indptr))
        n_users = item_users.shape[1]
        if rows.nnz * 16 > n_users:
            # Many shared users: one pass over a dense vector beats sorting them.
            dense = np.bincount(rows.indices, weights=contribution, minlength=n_users)
            users = np.flatnonzero(dense)
            similarity = dense[users]
        else:
            users, inverse = np.unique(rows.indices, return_inverse=True)
            similarity = np.bincount(inverse, weights=contribution)
        keep = similarity > self.config.min_similarity
        if history.user_position is not None:
            keep &= users != history.user_position
        users, similarity = users[keep], similarity[keep]
        k = min(self.config.neighbours, users.size)
        if k < users.size:
            # Equal similarities at the cut go to the lower user index, so that
            # the neighbours do not depend on the partition algorithm.
            cut = np.partition(similarity, users.size - k)[users.size - k]
            candidates = np.flatnonzero(similarity >= cut)
            order = np.lexsort((users[candidates], -similarity[candidates]))[:k]
            users, similarity = users[candidates[order]], similarity[candidates[order]]
        return users.astype(np.int64), similarity

    def _score(self, history: UserHistory) -> np.ndarray | None:
        users, similarity = self.neighbours(history)
        if users.size == 0:
            return None
        weights = similarity**self.config.amplification
        votes = np.asarray(fitted(self, self._user_items)[users].T @ weights).ravel()
        votes *= fitted(self, self._damping)
        return votes + _TIE_BREAK * self.popularity


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length (zero rows stay zero); works with no rows,
    where sklearn's normalize refuses."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sparse.csr_matrix(sparse.diags(inverse) @ matrix)
