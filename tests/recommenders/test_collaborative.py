from __future__ import annotations

import numpy as np

from recommenders.collaborative import Collaborative, CollaborativeConfig
from recommenders.data import Catalog, InteractionLog
from tests.recommenders.conftest import small_catalog
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


def test_max_item_users_caps_the_neighbour_search_of_a_popular_item() -> None:
    """Regression guard for latency: a head item's user list is subsampled with
    one seeded draw per user, and small items keep all their users."""
    n_users = 400
    users = np.r_[np.arange(n_users), [0, 1, 2]].astype(np.int32)
    items = np.r_[np.zeros(n_users), [1, 1, 1]].astype(np.int32)
    log = InteractionLog(
        user_ids=[f"u{u}" for u in range(n_users)],
        user_index=users,
        item_index=items,
        weight=np.ones(users.size, np.float32),
        rating=np.full(users.size, np.nan, np.float32),
        timestamp=np.arange(users.size, dtype=np.float64),
        n_items=8,
    )
    catalog = small_catalog()
    capped = Collaborative(CollaborativeConfig(max_item_users=50)).fit(catalog, log)
    again = Collaborative(CollaborativeConfig(max_item_users=50)).fit(catalog, log)
    whole = Collaborative(CollaborativeConfig(max_item_users=None)).fit(catalog, log)
    rows = capped._item_users
    assert rows is not None and whole._item_users is not None
    assert 20 < rows[0].nnz < 90
    assert rows[1].nnz == 3
    assert whole._item_users[0].nnz == n_users
    np.testing.assert_array_equal(rows[0].indices, again._item_users[0].indices)  # type: ignore[index]
    neighbours, _ = capped.neighbours(history([0], [1.0]))
    assert neighbours.size == 30
