from __future__ import annotations

import numpy as np

from recommenders.base import top_k


def test_top_k_ties_go_to_lower_index() -> None:
    result = top_k(np.array([1.0, 3.0, 3.0, 2.0, 3.0]), np.array([1]), 3)
    assert result.item_index.tolist() == [2, 4, 3]


def test_top_k_fewer_available_than_k() -> None:
    result = top_k(np.array([1.0, 3.0]), np.array([0]), 5)
    assert result.item_index.tolist() == [1]


def test_top_k_exclusion_outside_catalogue_ignored() -> None:
    """Guards against an IndexError when a history item left the catalogue."""
    result = top_k(np.array([1.0, 2.0, 3.0]), np.array([2, 7, -1]), 2)
    assert result.item_index.tolist() == [1, 0]
