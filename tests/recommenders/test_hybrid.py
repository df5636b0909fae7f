from __future__ import annotations

import numpy as np
import pytest

from recommenders.als import ALS, ALSConfig
from recommenders.collaborative import Collaborative
from recommenders.content import Content
from recommenders.data import Catalog, InteractionLog
from recommenders.hybrid import Hybrid, HybridConfig
from tests.recommenders.contract import RecommenderContract, history


class TestHybrid(RecommenderContract):
    def make(self) -> Hybrid:
        return Hybrid()

    @pytest.mark.parametrize("alpha", [0.0, 1.0])
    def test_recommend_at_alpha_end_follows_one_component(
        self, catalog: Catalog, log: InteractionLog, alpha: float
    ) -> None:
        model = Hybrid(HybridConfig(alpha=alpha)).fit(catalog, log)
        single = Content() if alpha == 1.0 else Collaborative()
        single.fit(catalog, log)
        user = history([0, 4], [1.0, 1.0], position=4)
        np.testing.assert_array_equal(
            model.recommend(user, 5).item_index, single.recommend(user, 5).item_index
        )

    @pytest.mark.parametrize("fusion", ["zscore", "minmax", "rank", "reciprocal_rank"])
    def test_effective_content_share_is_a_share(
        self, catalog: Catalog, log: InteractionLog, fusion: str
    ) -> None:
        config = HybridConfig.model_validate({"fusion": fusion})
        model = Hybrid(config).fit(catalog, log)
        user = history([0, 1], [1.0, 1.0], position=0)
        share = model.effective_content_share(user)
        assert share is not None and 0.0 <= share <= 1.0
        assert np.all(np.isfinite(model.score(user)))

    def test_effective_content_share_is_one_at_alpha_one(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        model = Hybrid(HybridConfig(alpha=1.0)).fit(catalog, log)
        assert model.effective_content_share(history([0], [1.0])) == 1.0

    def test_effective_content_share_none_for_a_fallback_user(
        self, model: Hybrid
    ) -> None:
        assert model.effective_content_share(history([], [])) is None

    def test_recommend_uses_content_when_collaborative_knows_nothing(
        self, model: Hybrid
    ) -> None:
        """Item 7 has no interactions: only content can place it."""
        recommendation = model.recommend(history([7], [1.0]), 3)
        assert not recommendation.fallback
        assert recommendation.item_index.size == 3


_ALS = {"factors": 3, "iterations": 5, "regularization": 0.5}


class TestHybridWithALS(RecommenderContract):
    def make(self) -> Hybrid:
        return Hybrid(
            HybridConfig.model_validate({"collaborative_model": "als", "als": _ALS})
        )

    def test_recommend_at_alpha_zero_follows_als(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        config = {"alpha": 0.0, "collaborative_model": "als", "als": _ALS}
        model = Hybrid(HybridConfig.model_validate(config)).fit(catalog, log)
        single = ALS(ALSConfig.model_validate(_ALS)).fit(catalog, log)
        user = history([0, 4], [1.0, 1.0], position=4)
        np.testing.assert_array_equal(
            model.recommend(user, 5).item_index, single.recommend(user, 5).item_index
        )
        assert model.collaborative is None


class TestHybridWithKnnAndALS(RecommenderContract):
    def make(self) -> Hybrid:
        config = {"alpha": 0.2, "collaborative_model": "user_knn+als", "als": _ALS}
        return Hybrid(HybridConfig.model_validate(config))

    @pytest.mark.parametrize("als_weight", [0.0, 1.0])
    def test_recommend_at_als_weight_end_follows_one_component(
        self, catalog: Catalog, log: InteractionLog, als_weight: float
    ) -> None:
        base = {"alpha": 0.0, "als": _ALS}
        blend = {
            **base,
            "collaborative_model": "user_knn+als",
            "als_weight": als_weight,
        }
        single = {**base, "collaborative_model": "als" if als_weight else "user_knn"}
        user = history([0, 4], [1.0, 1.0], position=4)
        lists = [
            Hybrid(HybridConfig.model_validate(c)).fit(catalog, log).recommend(user, 5)
            for c in (blend, single)
        ]
        np.testing.assert_array_equal(lists[0].item_index, lists[1].item_index)
