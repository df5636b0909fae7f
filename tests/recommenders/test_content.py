from __future__ import annotations

import numpy as np

from recommenders.content import Content, ContentConfig
from recommenders.data import Catalog, InteractionLog, UserHistory
from recommenders.embeddings import EmbeddingConfig
from tests.recommenders.conftest import small_catalog, small_log
from tests.recommenders.contract import RecommenderContract, history

TEXT_AND_CATEGORIES_ONLY = ContentConfig(
    popularity_weight=0, rating_weight=0, recency_weight=0
)
TEXT_ONLY = TEXT_AND_CATEGORIES_ONLY.model_copy(
    update={"category_weight": 0.0, "brand_weight": 0.0, "text_weight": 1.0}
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
        config = ContentConfig(text=EmbeddingConfig(dimensions=3, seed=7))
        user = history([0, 2], [1.0, 1.0])
        first = Content(config).fit(catalog, log).score(user)
        second = Content(config).fit(catalog, log).score(user)
        np.testing.assert_allclose(first, second)


def with_queries(
    items: list[int], weights: list[float], queries: tuple[str, ...]
) -> UserHistory:
    return UserHistory(
        item_index=np.array(items, dtype=np.int64),
        weight=np.array(weights, dtype=np.float32),
        queries=queries,
    )


def test_search_queries_alone_give_a_content_profile() -> None:
    """A user with no history but a search is not a popularity fallback."""
    model = Content(TEXT_ONLY).fit(small_catalog(), small_log())
    recommendation = model.recommend(with_queries([], [], ("explosions",)), 3)
    assert not recommendation.fallback
    assert set(recommendation.item_index) == {2, 3, 7}


def test_search_query_pulls_the_profile_toward_its_text() -> None:
    model = Content(TEXT_ONLY.model_copy(update={"query_weight": 0.7})).fit(
        small_catalog(), small_log()
    )
    plain = model.score(with_queries([0], [1.0], ()))
    searched = model.score(with_queries([0], [1.0], ("car chase explosions",)))
    assert plain[7] < plain[6]
    assert searched[7] > searched[6]


def test_newer_search_queries_weigh_more() -> None:
    model = Content(TEXT_ONLY).fit(small_catalog(), small_log())
    scores = model.score(with_queries([], [], ("quiet life", "explosions night")))
    assert scores[3] > scores[4]
    scores = model.score(with_queries([], [], ("explosions night", "quiet life")))
    assert scores[4] > scores[3]


def test_search_queries_are_ignored_at_query_weight_zero() -> None:
    model = Content(TEXT_ONLY.model_copy(update={"query_weight": 0.0}))
    model.fit(small_catalog(), small_log())
    assert model.recommend(with_queries([], [], ("explosions",)), 3).fallback
    np.testing.assert_array_equal(
        model.score(with_queries([0], [1.0], ("explosions",))),
        model.score(with_queries([0], [1.0], ())),
    )
