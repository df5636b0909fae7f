from __future__ import annotations

import numpy as np

from recommenders.content import Content, ContentConfig
from recommenders.data import Catalog, InteractionLog
from tests.recommenders.contract import RecommenderContract, history

TEXT_AND_CATEGORIES_ONLY = ContentConfig(
    popularity_weight=0, rating_weight=0, recency_weight=0
)


class TestContent(RecommenderContract):
    def make(self) -> Content:
        return Content()

    def test_recommend_reaches_an_item_without_interactions(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        model = Content(TEXT_AND_CATEGORIES_ONLY).fit(catalog, log)
        recommendation = model.recommend(history([2, 3], [1.0, 1.0]), 1)
        assert recommendation.item_index[0] == 7

    def test_score_follows_the_profile_categories(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        model = Content(TEXT_AND_CATEGORIES_ONLY).fit(catalog, log)
        scores = model.score(history([0], [1.0]))
        comedies, others = scores[[1, 6]], scores[[2, 3, 4, 5, 7]]
        assert comedies.min() > others.max()

    def test_numeric_blocks_reward_popular_items(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        numeric_only = ContentConfig(
            text_weight=0, category_weight=0, brand_weight=0, recency_weight=0
        )
        model = Content(numeric_only).fit(catalog, log)
        scores = model.score(history([1], [1.0]))
        assert scores[0] == scores.max()
        assert scores[7] == scores.min()

    def test_fit_with_no_text_and_no_tags(self, log: InteractionLog) -> None:
        bare = Catalog(
            item_ids=[str(i) for i in range(8)],
            titles=[""] * 8,
            descriptions=[""] * 8,
            categories=[[] for _ in range(8)],
            brands=[None] * 8,
            prices=np.full(8, np.nan),
            ratings=np.full(8, np.nan),
            published=np.full(8, np.nan),
        )
        model = Content(ContentConfig(similarity="cosine")).fit(bare, log)
        assert np.all(np.isfinite(model.score(history([1], [1.0]))))

    def test_svd_text_block_is_seeded(
        self, catalog: Catalog, log: InteractionLog
    ) -> None:
        config = ContentConfig(text_components=3, seed=7)
        user = history([0, 2], [1.0, 1.0])
        first = Content(config).fit(catalog, log).score(user)
        second = Content(config).fit(catalog, log).score(user)
        np.testing.assert_allclose(first, second)
