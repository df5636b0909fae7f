from __future__ import annotations

import numpy as np
from scipy import sparse

from recommenders import metrics


def test_ndcg_known_value() -> None:
    found = np.array([[False, True, False], [True, True, True]])
    values = metrics.ndcg(found, np.array([2, 5]))
    expected_first = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    np.testing.assert_allclose(values, [expected_first, 1.0])


def test_precision_and_recall_known_values() -> None:
    lists = np.array([[3, 1, -1], [0, 2, 4]])
    found = metrics.hits(lists, [np.array([1, 5]), np.array([9])])
    np.testing.assert_allclose(metrics.precision(found, 3), [1 / 3, 0])
    np.testing.assert_allclose(metrics.recall(found, np.array([2, 1])), [0.5, 0])


def test_genre_entropy_spreads_each_item_over_its_genres() -> None:
    genres = sparse.csr_matrix(np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]))
    entropy = metrics.genre_entropy(np.array([[0, 2], [0, 0], [1, -1]]), genres)
    np.testing.assert_allclose(entropy, [1.0, 0.0, 1.0])


def test_coverage_counts_distinct_items() -> None:
    assert metrics.coverage(np.array([[0, 1], [1, -1]]), 10) == 0.2


def test_bootstrap_paired_interval_brackets_the_mean() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.1, 1.0, size=500)
    interval = metrics.bootstrap(values, metrics.resample_indices(500, 300, rng))
    assert interval.low < interval.mean < interval.high
    assert interval.high - interval.low < 0.3
