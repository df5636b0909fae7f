"""ALS's conjugate-gradient solver (the implicit library) against the exact one."""

from __future__ import annotations

import numpy as np
import pytest
from implicit.cpu.als import AlternatingLeastSquares
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from recommenders import registry
from recommenders.als import ALS, ALSConfig, confidence_matrix
from recommenders.data import Catalog, InteractionLog, UserHistory
from tests.recommenders.conftest import small_catalog, small_log
from tests.recommenders.contract import RecommenderContract, history

N_GROUPS = 4
ITEMS_PER_GROUP = 30


class TestALSConjugateGradient(RecommenderContract):
    def make(self) -> ALS:
        return ALS(ALSConfig(factors=3, iterations=5, solver="conjugate_gradient"))

    def test_fit_is_seeded(self, catalog: Catalog, log: InteractionLog) -> None:
        user = history([2], [1.0])
        first = self.make().fit(catalog, log).score(user)
        second = self.make().fit(catalog, log).score(user)
        np.testing.assert_array_equal(first, second)

    def test_item_factors_are_float64_in_catalogue_order(
        self, model: ALS, catalog: Catalog
    ) -> None:
        factors = model.item_factors
        assert factors.shape == (len(catalog), 3)
        assert factors.dtype == np.float64


def planted_log(rng: np.random.Generator) -> tuple[Catalog, InteractionLog]:
    """Users who each draw 85% of their events from one group of items."""
    n_items, n_users = N_GROUPS * ITEMS_PER_GROUP, 240
    users, items = [], []
    for user in range(n_users):
        group = user % N_GROUPS
        own = group * ITEMS_PER_GROUP + rng.choice(ITEMS_PER_GROUP, 11, replace=False)
        stray = rng.choice(n_items, 2, replace=False)
        picked = np.unique(np.concatenate([own, stray]))
        users += [user] * picked.size
        items += picked.tolist()
    catalog = Catalog(
        item_ids=[f"i{i}" for i in range(n_items)],
        titles=[""] * n_items,
        descriptions=[""] * n_items,
        categories=[[] for _ in range(n_items)],
        brands=[None] * n_items,
        prices=np.full(n_items, np.nan),
        ratings=np.full(n_items, np.nan),
        published=np.full(n_items, np.nan),
    )
    log = InteractionLog(
        user_ids=[f"u{u}" for u in range(n_users)],
        user_index=np.array(users, dtype=np.int32),
        item_index=np.array(items, dtype=np.int32),
        weight=rng.choice(np.array([1.0, 3.0], dtype=np.float32), len(items)),
        rating=np.full(len(items), np.nan, dtype=np.float32),
        timestamp=np.zeros(len(items)),
        n_items=n_items,
    )
    return catalog, log


def own_group_share(model: ALS, log: InteractionLog) -> float:
    """Mean share of each user's top 10 that comes from the user's own group."""
    matrix = log.weights_matrix
    shares = []
    for user in range(matrix.shape[0]):
        row = matrix.getrow(user)
        live = UserHistory(item_index=row.indices, weight=row.data, user_position=user)
        top = model.recommend(live, 10).item_index
        shares.append(np.mean(top // ITEMS_PER_GROUP == user % N_GROUPS))
    return float(np.mean(shares))


def test_conjugate_gradient_ranks_planted_groups_as_well_as_exact() -> None:
    """Would catch item factors in another order than the catalogue's, or
    confidences that implicit reads differently from the exact fit."""
    catalog, log = planted_log(np.random.default_rng(7))
    shares = {}
    for solver in ("exact", "conjugate_gradient"):
        config = ALSConfig(factors=8, regularization=1.0, solver=solver)
        shares[solver] = own_group_share(ALS(config).fit(catalog, log), log)
    assert shares["exact"] > 0.8  # the structure is there to find
    assert shares["conjugate_gradient"] >= shares["exact"] - 0.05


def test_confidence_matrix_is_what_implicit_solves_like_the_fold_in() -> None:
    """Given the same item factors, implicit's exact per-user solve on
    confidence_matrix equals ALS.user_factors: the two agree that a positive has
    confidence 1 + confidence * weight."""
    log = small_log()
    config = ALSConfig(factors=3, regularization=0.5, confidence=2.0)
    model = ALS(config).fit(small_catalog(), log)
    matrix = confidence_matrix(log, config.confidence)
    with threadpool_limits(limits=1, user_api="blas"):
        reference = AlternatingLeastSquares(
            factors=3, regularization=0.5, use_cg=False, num_threads=1
        )
    reference.item_factors = model.item_factors.astype(np.float32)
    users = np.arange(matrix.shape[0])
    solved = reference.recalculate_user(users, matrix)
    weights = log.weights_matrix
    for user in users[:5]:  # user 5 has no positive: nothing to fold in
        row = weights.getrow(user)
        live = UserHistory(item_index=row.indices, weight=row.data)
        folded = model.user_factors(live)
        assert folded is not None
        np.testing.assert_allclose(solved[user], folded, rtol=1e-4, atol=1e-6)


def test_confidence_matrix_keeps_positives_and_the_log_intact() -> None:
    log = small_log()
    before = log.weights_matrix.copy()
    matrix = confidence_matrix(log, 2.0)
    assert matrix.nnz == np.count_nonzero(before.data > 0)
    np.testing.assert_allclose(matrix.data, 1.0 + 2.0 * before.data[before.data > 0])
    np.testing.assert_array_equal(log.weights_matrix.data, before.data)


@pytest.mark.parametrize(
    ("factors", "positives", "expected"),
    [
        (16, 80_000, "exact"),
        (32, 100_000, "exact"),  # MovieLens 100K: tuned results stay exact
        (16, 50_000_000, "conjugate_gradient"),
        (64, 1_000_000, "conjugate_gradient"),
    ],
)
def test_solver_auto_picks_exact_only_while_its_tensor_fits(
    factors: int, positives: int, expected: str
) -> None:
    assert ALS(ALSConfig(factors=factors)).solver_for(positives) == expected


@pytest.mark.parametrize("solver", ["exact", "conjugate_gradient"])
def test_solver_named_is_the_solver_used_while_it_fits(solver: str) -> None:
    config = ALSConfig.model_validate({"solver": solver})
    assert ALS(config).solver_for(10) == solver
    assert ALS(config).solver_for(50_000_000) == "conjugate_gradient"


def test_exact_over_its_budget_fits_by_cg_instead_of_exhausting_memory() -> None:
    """Guards against factors=512 with solver exact asking numpy for 207 GiB
    inside a serving process (a 500 on every request of that arm)."""
    config = ALSConfig(factors=512, solver="exact", iterations=1)
    assert ALS(config).solver_for(105_745) == "conjugate_gradient"


def test_solver_defaults_to_auto() -> None:
    assert registry.validate("als", {})["solver"] == "auto"


def test_solver_unknown_is_refused() -> None:
    with pytest.raises(ValidationError):
        ALSConfig.model_validate({"solver": "newton"})
    with pytest.raises(registry.InvalidRecommenderConfig, match="solver must be"):
        registry.validate("als", {"solver": "newton"})
    with pytest.raises(registry.InvalidRecommenderConfig, match=r"als\.solver must be"):
        registry.validate("hybrid", {"als": {"solver": "cg"}})
