"""The data objects every recommender takes. Models never read files or the database:
callers (the serving layer, the offline evaluator) build these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse


@dataclass(frozen=True, eq=False)
class Catalog:
    """The items, indexed densely 0..n-1 in the order of item_ids."""

    item_ids: list[str]
    titles: list[str]
    descriptions: list[str]
    categories: list[list[str]]
    """Category tags per item (genres for MovieLens; category and subcategory
    for a shop catalogue)."""
    brands: list[str | None]
    prices: np.ndarray
    """float64, NaN where unknown."""
    ratings: np.ndarray
    """The catalogue's own average rating, float64, NaN where unknown."""
    published: np.ndarray
    """Publication (release) time as unix seconds, float64, NaN where unknown."""
    text_embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Stored text vectors by embedder key (recommenders.embeddings), each float32
    (n_items, dim) with NaN rows where none is stored; models embed those rows."""
    image_embeddings: np.ndarray | None = None
    """Image vectors, float32 (n_items, dim), NaN rows for items without an image;
    None when the catalogue has no images."""

    def __len__(self) -> int:
        return len(self.item_ids)

    @cached_property
    def index(self) -> dict[str, int]:
        return {item_id: i for i, item_id in enumerate(self.item_ids)}


@dataclass(frozen=True, eq=False)
class InteractionLog:
    """Training interactions as parallel arrays, one row per event."""

    user_ids: list[str]
    """External id of each dense user index."""
    user_index: np.ndarray  # int32
    item_index: np.ndarray  # int32, into Catalog
    weight: np.ndarray  # float32, profile weight (0 for events that only exclude)
    rating: np.ndarray  # float32, star rating or NaN when the event is no rating
    timestamp: np.ndarray  # float64, unix seconds
    n_items: int

    def __len__(self) -> int:
        return int(self.user_index.shape[0])

    @cached_property
    def user_position(self) -> dict[str, int]:
        return {user_id: i for i, user_id in enumerate(self.user_ids)}

    @cached_property
    def weights_matrix(self) -> sparse.csr_matrix:
        """users x items, summed profile weights (duplicates add up)."""
        return sparse.csr_matrix(
            (self.weight.astype(np.float32), (self.user_index, self.item_index)),
            shape=(len(self.user_ids), self.n_items),
            dtype=np.float32,
        )

    @cached_property
    def seen_matrix(self) -> sparse.csr_matrix:
        """users x items, 1 where the user has any event with the item."""
        ones = np.ones(len(self), dtype=np.float32)
        seen = sparse.csr_matrix(
            (ones, (self.user_index, self.item_index)),
            shape=(len(self.user_ids), self.n_items),
        )
        seen.data[:] = 1.0
        return seen


@dataclass(frozen=True, eq=False)
class UserHistory:
    """What one user has done, read at request time so that it is always current."""

    item_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    """Items the user has (any interaction); never recommended back."""
    weight: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    """Profile weight of each of those items, summed over the user's events."""
    user_position: int | None = None
    """The user's row in the training log, when the model was fitted with them."""
    queries: tuple[str, ...] = ()
    """The user's recent search query texts, newest last: explicit intent that
    content-based models embed into their text space."""

    @property
    def is_empty(self) -> bool:
        return not bool(np.any(self.weight > 0))
