"""Top-k ranking metrics of protocol ml100k-temporal-v1, and the paired bootstrap.

Lists are rows of an (n_users, k) integer array padded with -1 where a user got
fewer than k items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class Interval:
    """A mean and its 95% bootstrap confidence interval."""

    mean: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def hits(lists: np.ndarray, relevant: list[np.ndarray]) -> np.ndarray:
    """Boolean (n_users, k): whether each listed item is relevant to its user."""
    found = np.zeros(lists.shape, dtype=bool)
    for row, (items, wanted) in enumerate(zip(lists, relevant, strict=True)):
        found[row] = np.isin(items, wanted) & (items >= 0)
    return found


def precision(found: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(found.sum(axis=1) / k, dtype=np.float64)


def recall(found: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return np.asarray(found.sum(axis=1) / np.maximum(n_relevant, 1), dtype=np.float64)


def ndcg(found: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Binary gain, log2 discount, ideal DCG over min(|relevant|, k) hits."""
    k = found.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = found @ discount
    ideal = np.concatenate([[0.0], np.cumsum(discount)])
    best = ideal[np.minimum(n_relevant, k)]
    return np.asarray(np.divide(dcg, best, out=np.zeros_like(dcg), where=best > 0))


def coverage(lists: np.ndarray, n_items: int) -> float:
    """Distinct items over all lists, as a share of the catalogue."""
    return float(np.unique(lists[lists >= 0]).size / n_items)


def genre_entropy(lists: np.ndarray, genres: sparse.csr_matrix) -> np.ndarray:
    """Shannon entropy in bits of each list's genre mix.

    Each item spreads a weight of 1 evenly over its genres (rows of `genres`
    sum to 1, or 0 for an item without any).
    """
    rows = np.repeat(np.arange(lists.shape[0]), lists.shape[1])
    items = lists.ravel()
    keep = items >= 0
    membership = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], items[keep])),
        shape=(lists.shape[0], genres.shape[0]),
    )
    mix = np.asarray((membership @ genres).todense())
    totals = mix.sum(axis=1, keepdims=True)
    share = np.divide(mix, totals, out=np.zeros_like(mix), where=totals > 0)
    logs = np.log2(share, out=np.zeros_like(share), where=share > 0)
    return np.asarray(-(share * logs).sum(axis=1), dtype=np.float64)


def self_information(
    lists: np.ndarray, item_users: np.ndarray, n_users: int
) -> np.ndarray:
    """Mean -log2 of the share of training users who had each listed item.

    Counts are smoothed by one so that never-seen items stay finite.
    """
    information = -np.log2((item_users + 1.0) / (n_users + 1.0))
    values = np.where(lists >= 0, information[np.maximum(lists, 0)], np.nan)
    counts = (lists >= 0).sum(axis=1)
    sums = np.nansum(values, axis=1)
    novelty = np.divide(sums, counts, out=np.zeros(lists.shape[0]), where=counts > 0)
    return np.asarray(novelty, dtype=np.float64)


def resample_indices(
    n_users: int, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_resamples, n_users) user indices drawn with replacement."""
    return rng.integers(0, n_users, size=(n_resamples, n_users))


def bootstrap(values: np.ndarray, indices: np.ndarray) -> Interval:
    """Mean of per-user values with a 95% percentile interval over the resamples.

    Pass per-user differences to get a paired interval.
    """
    means = values[indices].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(values.mean()), float(low), float(high))
