from __future__ import annotations

import numpy as np
import pytest

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
