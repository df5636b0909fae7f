"""The behaviour every recommender owes the serving layer; test classes inherit it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommenders._shared import NotFittedError
from recommenders.base import Recommender, top_k
from recommenders.data import Catalog, InteractionLog, UserHistory
from tests.recommenders.conftest import small_catalog, small_log


def history(
    items: list[int], weights: list[float], position: int | None = None
) -> UserHistory:
    return UserHistory(
        item_index=np.array(items, dtype=np.int64),
        weight=np.array(weights, dtype=np.float32),
        user_position=position,
    )


class RecommenderContract:
    """Subclasses set `make` to build an unfitted model."""

    def make(self) -> Recommender:
        raise NotImplementedError

    @pytest.fixture
    def catalog(self) -> Catalog:
        return small_catalog()

    @pytest.fixture
    def log(self) -> InteractionLog:
        return small_log()

    @pytest.fixture
    def model(self, catalog: Catalog, log: InteractionLog) -> Recommender:
        return self.make().fit(catalog, log)

    def test_fit_on_an_empty_log_serves_every_user(self, catalog: Catalog) -> None:
        """Guards against a crash on a new catalogue nobody has touched yet."""
        empty = InteractionLog(
            user_ids=[],
            user_index=np.empty(0, np.int32),
            item_index=np.empty(0, np.int32),
            weight=np.empty(0, np.float32),
            rating=np.empty(0, np.float32),
            timestamp=np.empty(0),
            n_items=len(catalog),
        )
        model = self.make().fit(catalog, empty)
        for user in (history([], []), history([2], [1.0])):
            result = model.recommend(user, 3)
            assert result.item_index.size == 3
            assert np.all(np.isfinite(result.scores))
            assert 2 not in result.item_index or user.item_index.size == 0

    def test_fit_on_an_empty_catalogue_recommends_nothing(self) -> None:
        """Guards against a 500 on a fresh install with no items yet."""
        catalog = Catalog(
            item_ids=[],
            titles=[],
            descriptions=[],
            categories=[],
            brands=[],
            prices=np.empty(0),
            ratings=np.empty(0),
            published=np.empty(0),
        )
        empty = InteractionLog(
            user_ids=[],
            user_index=np.empty(0, np.int32),
            item_index=np.empty(0, np.int32),
            weight=np.empty(0, np.float32),
            rating=np.empty(0, np.float32),
            timestamp=np.empty(0),
            n_items=0,
        )
        model = self.make().fit(catalog, empty)
        assert model.recommend(history([], []), 5).item_index.size == 0

    def test_fit_returns_the_model(self, catalog: Catalog, log: InteractionLog) -> None:
        model = self.make()
        assert model.fit(catalog, log) is model

    def test_score_before_fit_raises(self) -> None:
        with pytest.raises(NotFittedError):
            self.make().score(history([0], [1.0]))

    def test_score_known_user_is_finite_for_every_item(
        self, model: Recommender
    ) -> None:
        scores = model.score(history([0, 1, 6], [1.0, 1.0, 1.0], position=0))
        assert scores.shape == (8,)
        assert np.all(np.isfinite(scores))

    def test_score_unknown_user_from_history_alone(self, model: Recommender) -> None:
        scores = model.score(history([2], [1.0]))
        assert scores.shape == (8,)
        assert np.all(np.isfinite(scores))

    def test_recommend_empty_history_falls_back_to_popularity(
        self, model: Recommender, log: InteractionLog
    ) -> None:
        popularity = np.bincount(log.item_index, weights=log.weight, minlength=8)
        for empty in (history([], []), history([0], [0.0], position=5)):
            expected = top_k(popularity, empty.item_index, 3).item_index
            recommendation = model.recommend(empty, 3)
            assert recommendation.fallback
            np.testing.assert_array_equal(recommendation.item_index, expected)

    def test_recommend_never_returns_items_the_user_has(
        self, model: Recommender
    ) -> None:
        had = history([0, 1, 4], [1.0, 1.0, 0.0], position=1)
        recommendation = model.recommend(had, 8)
        assert not recommendation.fallback
        assert not set(recommendation.item_index) & {0, 1, 4}
        assert recommendation.item_index.size == 5

    def test_recommend_has_no_duplicates_and_finite_scores(
        self, model: Recommender
    ) -> None:
        for user in (history([2, 3], [1.0, 2.0]), history([5], [0.5])):
            recommendation = model.recommend(user, 10)
            assert (
                np.unique(recommendation.item_index).size
                == recommendation.item_index.size
            )
            assert np.all(np.isfinite(recommendation.scores))
            assert np.all(np.diff(recommendation.scores) <= 0)

    def test_recommend_reflects_a_live_event(self, model: Recommender) -> None:
        """An item clicked just now is excluded although the log lacks it."""
        before = model.recommend(history([0], [1.0], position=0), 8)
        after = model.recommend(history([0, 2], [1.0, 1.5], position=0), 8)
        assert 2 in before.item_index
        assert 2 not in after.item_index

    def test_save_load_round_trip(self, model: Recommender, tmp_path: Path) -> None:
        path = tmp_path / "model.pickle"
        model.save(path)
        loaded = type(model).load(path)
        user = history([0, 2], [1.0, 1.0], position=0)
        np.testing.assert_array_equal(loaded.score(user), model.score(user))

    def test_fit_leaves_the_log_intact_for_the_next_model(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        """Regression: an in-place eliminate_zeros() on a matrix sharing the log's
        cached index arrays corrupted every model fitted after the first."""
        before = log.weights_matrix.copy()
        first = self.make().fit(catalog, log)
        second = self.make().fit(catalog, log)
        after = log.weights_matrix
        assert (after != before).nnz == 0
        np.testing.assert_array_equal(after.indptr, before.indptr)
        user = history([0, 3], [1.0, 1.0])
        np.testing.assert_array_equal(first.score(user), second.score(user))
