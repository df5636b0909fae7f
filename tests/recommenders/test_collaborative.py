from __future__ import annotations

import numpy as np

from recommenders.collaborative import Collaborative, CollaborativeConfig
from recommenders.data import Catalog, InteractionLog
from tests.recommenders.contract import RecommenderContract, history


class TestCollaborative(RecommenderContract):
    def make(self) -> Collaborative:
        return Collaborative()

    def test_neighbours_exclude_the_users_own_row(self, model: Collaborative) -> None:
        users, _ = model.neighbours(history([2, 3], [1.0, 1.0], position=2))
        assert 2 not in users
        assert 3 in users

    def test_recommend_votes_of_the_nearest_user(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        model = Collaborative(
            CollaborativeConfig(neighbours=1, popularity_penalty=0)
        ).fit(catalog, log)
        # user 3 has items 2, 3 and 0: the only user sharing item 2 and 3 as well.
        recommendation = model.recommend(history([2, 3], [1.0, 1.0], position=2), 1)
        np.testing.assert_array_equal(recommendation.item_index, [0])

    def test_recommend_without_overlapping_users_falls_back(
        self, model: Collaborative
    ) -> None:
        recommendation = model.recommend(history([7], [1.0]), 3)
        assert recommendation.fallback
        np.testing.assert_array_equal(recommendation.item_index, [0, 1, 2])
