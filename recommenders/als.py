"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren
and Volinsky 2008), in numpy with batched solves: no Python loop over users or
items.

A user who was not in the training log, or whose history has moved on since,
is folded in at request time: one small least-squares solve against the fixed
item factors, from the live history alone.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from recommenders._shared import FallbackRecommender, fitted, positive_history
from recommenders.data import Catalog, InteractionLog, UserHistory


class ALSConfig(BaseModel):
    """Settings of the implicit ALS recommender."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    factors: int = Field(default=16, ge=1, le=512)
    """Latent dimensions."""
    regularization: float = Field(default=5.0, ge=0, le=1e6)
    """L2 penalty on every factor vector."""
    confidence: float = Field(default=1.0, ge=0, le=1e6)
    """Confidence of a positive is 1 + confidence * weight; unknowns have 1."""
    iterations: int = Field(default=15, ge=1, le=200)
    """Alternating sweeps over users and items."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of the generator that draws the initial factors."""


class ALS(FallbackRecommender):
    """Scores items by the dot product of item factors with the folded-in user."""

    def __init__(self, config: ALSConfig | None = None) -> None:
        self.config = config or ALSConfig()
        self._items: np.ndarray | None = None

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        config = self.config
        rng = np.random.default_rng(config.seed)
        matrix = log.weights_matrix.tocoo()
        keep = matrix.data > 0
        users = matrix.row[keep].astype(np.int64)
        items = matrix.col[keep].astype(np.int64)
        extra = config.confidence * matrix.data[keep].astype(np.float64)
        scale = 0.01
        user_factors = rng.normal(0, scale, (matrix.shape[0], config.factors))
        item_factors = rng.normal(0, scale, (matrix.shape[1], config.factors))
        # Nothing to learn from (a new catalogue): every user falls back to
        # popularity until the first positives arrive.
        iterations = config.iterations if extra.size else 0
        for _ in range(iterations):
            user_factors = self._solve(
                item_factors, users, items, extra, matrix.shape[0]
            )
            item_factors = self._solve(
                user_factors, items, users, extra, matrix.shape[1]
            )
        self._items = item_factors
        return self

    def _solve(
        self,
        fixed: np.ndarray,
        rows: np.ndarray,
        columns: np.ndarray,
        extra: np.ndarray,
        n_rows: int,
    ) -> np.ndarray:
        """Least-squares factors of every row against the fixed side, batched."""
        factors = fixed.shape[1]
        gram = fixed.T @ fixed + self.config.regularization * np.eye(factors)
        vectors = fixed[columns]
        outer = np.einsum("n,ni,nj->nij", extra, vectors, vectors)
        # Summing per row through a rows x events indicator matrix keeps the
        # accumulation in compiled code (np.add.at on 3-D arrays is slow).
        events = sparse.csr_matrix(
            (np.ones(rows.size), (rows, np.arange(rows.size))),
            shape=(n_rows, rows.size),
        )
        a = (events @ outer.reshape(rows.size, -1)).reshape(n_rows, factors, factors)
        a += gram
        b = events @ ((1.0 + extra)[:, None] * vectors)
        return np.asarray(np.linalg.solve(a, b[:, :, None])[:, :, 0])

    def user_factors(self, history: UserHistory) -> np.ndarray | None:
        """The folded-in factors of a live history, or None without positives."""
        item_factors = fitted(self, self._items)
        items, weights = positive_history(history, item_factors.shape[0])
        if items.size == 0:
            return None
        vectors = item_factors[items]
        extra = self.config.confidence * weights
        a = item_factors.T @ item_factors + self.config.regularization * np.eye(
            item_factors.shape[1]
        )
        a += (vectors * extra[:, None]).T @ vectors
        b = ((1.0 + extra)[:, None] * vectors).sum(axis=0)
        return np.asarray(np.linalg.solve(a, b), dtype=np.float64)

    def _score(self, history: UserHistory) -> np.ndarray | None:
        user = self.user_factors(history)
        if user is None:
            return None
        return np.asarray(fitted(self, self._items) @ user, dtype=np.float64)
