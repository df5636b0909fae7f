"""Hybrid: alpha * content + (1 - alpha) * collaborative, each normalised per user.

The collaborative term is user-kNN, implicit ALS, or both: with
`collaborative_model="user_knn+als"` it is (1 - als_weight) * kNN + als_weight *
ALS, each normalised the same way. The two make different mistakes (neighbour
votes versus a low-rank fit), so together they rank better than either alone.

The nominal alpha is not the balance a user sees. When one component is nearly
flat near the top of the list the other one orders it, whatever alpha says, so
the model also measures its *effective content share*: over the fused top
`share_depth` candidates, the standard deviation of the weighted content term
divided by the sum of the standard deviations of both weighted terms. The
evaluator reports it next to alpha.
"""

from __future__ import annotations

from typing import Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from recommenders._shared import FallbackRecommender, NotFittedError, candidate_mask
from recommenders.als import ALS, ALSConfig
from recommenders.collaborative import Collaborative, CollaborativeConfig
from recommenders.content import Content, ContentConfig
from recommenders.data import Catalog, InteractionLog, UserHistory

Fusion = Literal["zscore", "minmax", "rank", "reciprocal_rank"]
CollaborativeModel = Literal["user_knn", "als", "user_knn+als"]
# Reciprocal rank fusion's customary damping constant.
_RRF_K = 60.0


class HybridConfig(BaseModel):
    """Settings of the hybrid: the blend and its two components."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    alpha: float = Field(default=0.7, ge=0, le=1)
    """Nominal weight of the content score; 1 - alpha goes to collaborative."""
    fusion: Fusion = "zscore"
    """How each component is normalised over the user's candidates before mixing:
    zscore (mean 0, sd 1), minmax ([0, 1]), rank (percentile rank) or
    reciprocal_rank (1 / (60 + rank))."""
    share_depth: int = Field(default=50, ge=2, le=1000)
    """How many fused top candidates the effective content share looks at."""
    content: ContentConfig = ContentConfig()
    """Settings of the content component."""
    collaborative_model: CollaborativeModel = "user_knn"
    """What makes the collaborative score: user-kNN, implicit ALS, or a blend of
    both weighted by als_weight."""
    als_weight: float = Field(default=0.5, ge=0, le=1)
    """ALS's share of the collaborative score under user_knn+als."""
    collaborative: CollaborativeConfig = CollaborativeConfig()
    """Settings of the user-kNN component."""
    als: ALSConfig = ALSConfig()
    """Settings of the ALS component."""


class Hybrid(FallbackRecommender):
    """A fitted content model and collaborative model(s), blended per request."""

    def __init__(self, config: HybridConfig | None = None) -> None:
        self.config = config or HybridConfig()
        kind = self.config.collaborative_model
        self.content = Content(self.config.content)
        self.collaborative = (
            Collaborative(self.config.collaborative) if kind != "als" else None
        )
        """The user-kNN component, None when collaborative_model is als."""
        self.als = ALS(self.config.als) if kind != "user_knn" else None
        """The ALS component, None when collaborative_model is user_knn."""
        self._fitted = False

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        self.content.fit(catalog, log)
        for component in (self.collaborative, self.als):
            if component is not None:
                component.fit(catalog, log)
        self._fitted = True
        return self

    def components(
        self, history: UserHistory
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Weighted normalised content and collaborative terms and the candidates.

        None when neither component knows the user. A component that knows
        nothing of the user contributes zeros.
        """
        if not self._fitted:
            raise NotFittedError("Hybrid is not fitted; call fit()")
        content = self.content._score(history)
        knn = self.collaborative._score(history) if self.collaborative else None
        als = self.als._score(history) if self.als else None
        if content is None and knn is None and als is None:
            return None
        candidates = candidate_mask(history, self.popularity.shape[0])
        alpha = self.config.alpha
        als_weight = {"user_knn": 0.0, "als": 1.0}.get(
            self.config.collaborative_model, self.config.als_weight
        )
        collaborative = np.zeros(candidates.shape[0])
        for weight, scores in ((1.0 - als_weight, knn), (als_weight, als)):
            if weight > 0 and scores is not None:
                collaborative += weight * self._normalise(scores, candidates)
        return (
            alpha * self._normalise(content, candidates),
            (1.0 - alpha) * collaborative,
            candidates,
        )

    def _score(self, history: UserHistory) -> np.ndarray | None:
        parts = self.components(history)
        if parts is None:
            return None
        content, collaborative, _ = parts
        return np.asarray(content + collaborative, dtype=np.float64)

    def effective_content_share(self, history: UserHistory) -> float | None:
        """Share of the top-of-list score spread that comes from content.

        None when the user gets a fallback or the fused top is perfectly flat.
        """
        parts = self.components(history)
        if parts is None:
            return None
        content, collaborative, candidates = parts
        fused = np.where(candidates, content + collaborative, -np.inf)
        depth = min(self.config.share_depth, int(candidates.sum()))
        if depth < 2:
            return None
        top = np.argpartition(-fused, depth - 1)[:depth]
        content_spread = float(np.std(content[top]))
        collaborative_spread = float(np.std(collaborative[top]))
        total = content_spread + collaborative_spread
        return content_spread / total if total > 0 else None

    def _normalise(
        self, scores: np.ndarray | None, candidates: np.ndarray
    ) -> np.ndarray:
        normalised = np.zeros(candidates.shape[0], dtype=np.float64)
        if scores is None or not candidates.any():
            return normalised
        values = scores[candidates]
        fusion = self.config.fusion
        if fusion == "zscore":
            spread = float(values.std())
            out = (values - values.mean()) / spread if spread > 0 else values * 0.0
        elif fusion == "minmax":
            low, high = float(values.min()), float(values.max())
            out = (values - low) / (high - low) if high > low else values * 0.0
        else:
            # Rank 1 is the best; equal scores share their average rank.
            rank = stats.rankdata(-values, method="average")
            if fusion == "rank":
                out = 1.0 - (rank - 1.0) / max(values.shape[0] - 1, 1)
            else:
                out = 1.0 / (_RRF_K + rank)
        normalised[candidates] = out
        return normalised
