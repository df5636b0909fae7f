from __future__ import annotations

import numpy as np

from recommenders.data import Catalog, InteractionLog
from recommenders.popularity import Popularity, PopularityConfig
from tests.recommenders.contract import RecommenderContract, history


class TestPopularity(RecommenderContract):
    def make(self) -> Popularity:
        return Popularity()

    def test_recommend_orders_by_summed_weight_ties_to_lower_index(
        self, model: Popularity
    ) -> None:
        recommendation = model.recommend(history([5], [1.0]), 4)
        # item 0 has four positives; items 1, 2, 3 two each.
        np.testing.assert_array_equal(recommendation.item_index, [0, 1, 2, 3])

    def test_half_life_favours_recent_positives(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        model = Popularity(PopularityConfig(half_life_days=1.0)).fit(catalog, log)
        top = model.recommend(history([6], [1.0]), 1).item_index[0]
        # item 0's positives are spread over the log; item 5 is liked last.
        assert top == 0 or top == 5
        assert model.score(history([6], [1.0]))[5] > model.score(history([6], [1.0]))[3]
