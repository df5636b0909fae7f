from __future__ import annotations

import numpy as np

from recommenders.als import ALS, ALSConfig
from recommenders.data import Catalog, InteractionLog
from tests.recommenders.contract import RecommenderContract, history


class TestALS(RecommenderContract):
    def make(self) -> ALS:
        return ALS(ALSConfig(factors=3, iterations=5))

    def test_fit_is_seeded(self, catalog: Catalog, log: InteractionLog) -> None:
        user = history([2], [1.0])
        first = self.make().fit(catalog, log).score(user)
        second = self.make().fit(catalog, log).score(user)
        np.testing.assert_array_equal(first, second)

    def test_recommend_folds_in_a_new_user(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        model = ALS(ALSConfig(factors=2, iterations=10, regularization=0.1))
        model.fit(catalog, log)
        # users who like items 2 and 3 also like item 0 (user 3).
        scores = model.score(history([2, 3], [1.0, 1.0]))
        assert scores[0] > scores[[4, 5, 7]].max()
