"""How much each kind of event says about what a user likes (the profile weight)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

# Event types the platform takes. "rating" is what MovieLens (or any catalogue
# with stars) brings as history; the others come from apps.
EVENT_TYPES = (
    "impression",
    "click",
    "view",
    "purchase",
    "session_start",
    "session_end",
    "search",
    "rating",
)
# Events that mean the user has the item: it is never recommended back to them.
HAVING_TYPES = ("click", "view", "purchase", "rating")


class ProfileWeights(BaseModel):
    """Profile weight per event type; the design's defaults."""

    purchase: float = Field(default=3.0, ge=0)
    """A purchase says most about taste."""
    click: float = Field(default=1.5, ge=0)
    view_full_dwell_seconds: float = Field(default=30.0, gt=0)
    """A view weighs min(dwell / this, view_cap)."""
    view_cap: float = Field(default=1.0, ge=0)
    positive_rating: float = Field(default=1.0, ge=0)
    """Weight of a rating at or above positive_rating_threshold."""
    positive_rating_threshold: float = 4.0
    """Ratings below it weigh 0: the user has the item but did not like it."""

    def of(
        self, types: np.ndarray, dwell: np.ndarray, rating: np.ndarray
    ) -> np.ndarray:
        """Weights of many events at once.

        Args:
            types: event type names (object or str array).
            dwell: dwell seconds (NaN where absent).
            rating: event value (stars for "rating"; NaN where absent).
        """
        types = np.asarray(types)
        dwell = np.nan_to_num(np.asarray(dwell, dtype=np.float64), nan=0.0)
        rating = np.nan_to_num(np.asarray(rating, dtype=np.float64), nan=0.0)
        weight = np.zeros(types.shape[0], dtype=np.float64)
        weight[types == "purchase"] = self.purchase
        weight[types == "click"] = self.click
        views = types == "view"
        weight[views] = np.minimum(
            np.maximum(dwell[views], 0.0) / self.view_full_dwell_seconds, self.view_cap
        )
        rated = types == "rating"
        weight[rated] = np.where(
            rating[rated] >= self.positive_rating_threshold, self.positive_rating, 0.0
        )
        return weight.astype(np.float32)
