"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren
and Volinsky 2008), with two solvers for each sweep's least-squares problems.

"exact" solves every row at once in numpy: no Python loop, but an events x
factors x factors tensor, about 2 GB per million events at 16 factors.
"conjugate_gradient" hands the sweeps to the implicit library's multithreaded
conjugate-gradient ALS (Takacs, Pilaszy and Tikk 2011), which holds only the
matrix and the factors: the solver for tens of millions of events.

A user who was not in the training log, or whose history has moved on since,
is folded in at request time: one small least-squares solve against the fixed
item factors, from the live history alone, whichever solver fitted them.
"""

from __future__ import annotations

import logging
import os
from typing import Literal, Self

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from threadpoolctl import threadpool_limits

from recommenders._shared import FallbackRecommender, fitted, positive_history
from recommenders.data import Catalog, InteractionLog, UserHistory

log = logging.getLogger(__name__)

Solver = Literal["auto", "exact", "conjugate_gradient"]
# Under "auto" the exact solver runs while its tensor of per-event outer
# products holds at most this many float64 values (1 GiB; the fit peaks at
# about twice that). MovieLens 100K at 32 factors needs a third of it, so the
# tuned MovieLens results stay exact; a large log no longer exhausts memory.
_EXACT_MAX_VALUES = 2**27


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
    solver: Solver = "auto"
    """How each sweep is solved: "exact" (numpy; memory grows with events x
    factors squared), "conjugate_gradient" (the implicit library: three CG steps
    per row, warm-started from the last sweep; memory of the matrix and the
    factors only), or "auto": exact while its tensor fits in 1 GiB, else CG.
    "exact" too gives way to CG (with a warning) above that budget."""


def confidence_matrix(log: InteractionLog, confidence: float) -> sparse.csr_matrix:
    """users x items, float32: 1 + confidence * weight for every positive.

    implicit reads a stored value as the whole confidence C_ui (it weighs the
    item's outer product by C_ui - 1 and its preference by C_ui), so the 1 is
    stored too. Pairs left out are unknowns of confidence 1, as in the exact fit.
    """
    # A copy, so that the log's cached matrix stays intact for other models.
    matrix = log.weights_matrix.copy()
    matrix.data[~(matrix.data > 0)] = 0
    matrix.eliminate_zeros()
    matrix.data *= np.float32(confidence)
    matrix.data += np.float32(1.0)
    return matrix


class ALS(FallbackRecommender):
    """Scores items by the dot product of item factors with the folded-in user."""

    def __init__(self, config: ALSConfig | None = None) -> None:
        self.config = config or ALSConfig()
        self._items: np.ndarray | None = None
        # Y'Y + regularisation * I, shared by every fold-in: at 100,000 items
        # it took 3 ms of each request to recompute.
        self._gram: np.ndarray | None = None

    @property
    def item_factors(self) -> np.ndarray:
        """n_items x factors, float64, in catalogue order."""
        return fitted(self, self._items)

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        positives = int(np.count_nonzero(log.weights_matrix.data > 0))
        if positives and self.solver_for(positives) == "conjugate_gradient":
            items = self._fit_conjugate_gradient(log)
        else:
            items = self._fit_exact(log)
        penalty = self.config.regularization * np.eye(self.config.factors)
        self._items, self._gram = items, items.T @ items + penalty
        return self

    def solver_for(self, positives: int) -> Literal["exact", "conjugate_gradient"]:
        """The solver a log of that many positive (user, item) pairs gets."""
        solver = self.config.solver
        if solver == "conjugate_gradient":
            return solver
        exact_values = positives * self.config.factors**2
        if exact_values <= _EXACT_MAX_VALUES:
            return "exact"
        if solver == "exact":
            # Asked for, but its tensor would not fit: a fit inside a serving
            # process must not exhaust the machine's memory (512 factors on
            # MovieLens would take 207 GiB), so it is solved by CG instead.
            log.warning(
                "ALS exact solver over its memory budget; using conjugate gradient",
                extra={"positives": positives, "factors": self.config.factors},
            )
        return "conjugate_gradient"

    def _fit_conjugate_gradient(self, log: InteractionLog) -> np.ndarray:
        config = self.config
        # implicit parallelises over rows with its own OpenMP threads: one per
        # core this process may use, named outright so that OMP_NUM_THREADS=1,
        # set for BLAS in serving processes, does not serialise a fit. A
        # threaded BLAS under them would oversubscribe the cores (implicit
        # warns unless BLAS has one thread).
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=config.factors,
                regularization=config.regularization,
                alpha=1.0,  # the confidences are already in the matrix
                iterations=config.iterations,
                num_threads=len(os.sched_getaffinity(0)),
                random_state=config.seed,
            )
            model.fit(confidence_matrix(log, config.confidence), show_progress=False)
        return np.asarray(model.item_factors, dtype=np.float64)

    def _fit_exact(self, log: InteractionLog) -> np.ndarray:
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
        return item_factors

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
        a = fitted(self, self._gram) + (vectors * extra[:, None]).T @ vectors
        b = ((1.0 + extra)[:, None] * vectors).sum(axis=0)
        return np.asarray(np.linalg.solve(a, b), dtype=np.float64)

    def _score(self, history: UserHistory) -> np.ndarray | None:
        user = self.user_factors(history)
        if user is None:
            return None
        return np.asarray(fitted(self, self._items) @ user, dtype=np.float64)
