"""The offline protocol ml100k-temporal-v1 on MovieLens 100K, and the same rules
on any catalogue and interaction log (`evaluate_log`).

Per user, ratings sorted by (timestamp, item id): the last 20% go to test. Models
learn from train positives (ratings 4-5 weigh 1, lower ratings weigh 0 but still
mark the item as had); candidates are every item the user did not rate in train;
relevant items are the user's test ratings of 4-5; users without any are not
evaluated. The validation split applies the same rule to train, so parameters
are tuned without ever looking at test.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from scipy import sparse

from experimentation.movielens import MovieLens, Ratings, temporal_split
from recommenders import metrics, registry
from recommenders.base import Recommender
from recommenders.data import Catalog, InteractionLog, UserHistory
from recommenders.metrics import Interval
from recommenders.weights import ProfileWeights

_log = logging.getLogger(__name__)

PROTOCOL = "ml100k-temporal-v1"
OWN_DATA_PROTOCOL = "temporal-v1 on own data"
"""The same split, candidate, relevance and metric rules on imported data."""
K = 10
Split = Literal["test", "validation"]


class ProtocolViolation(RuntimeError):
    """A model returned a list the protocol forbids (seen, duplicate or non-finite)."""


@dataclass(frozen=True, eq=False)
class EvaluationData:
    """One split of the protocol: what models fit on and whom they are tested for."""

    split: Split
    catalog: Catalog
    train: InteractionLog
    histories: list[UserHistory]
    """Evaluated users' training histories (every rated item, weights 0 or 1)."""
    relevant: list[np.ndarray]
    """Evaluated users' held-out items rated 4 or 5."""
    genres: sparse.csr_matrix
    """items x genres, each row summing to 1."""
    item_users: np.ndarray
    """How many training users rated each item (for novelty)."""

    @property
    def n_users(self) -> int:
        return len(self.histories)


@dataclass(frozen=True, eq=False)
class UserResults:
    """Per-user outcome of one model on one split."""

    lists: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    ndcg: np.ndarray
    entropy: np.ndarray
    novelty: np.ndarray
    fallback: np.ndarray
    milliseconds: np.ndarray
    content_share: np.ndarray
    """Effective content share per user (NaN where the model has none)."""


@dataclass(frozen=True)
class ModelSummary:
    name: str
    metrics: dict[str, Interval]
    coverage: float
    fallback_users: int
    n_users: int
    ms_p50: float
    alpha: float | None
    effective_content_share: float | None
    versus_baseline: dict[str, Interval] = field(default_factory=dict)
    """Paired per-user differences (this model minus the baseline)."""


def movielens_catalog(movielens: MovieLens) -> Catalog:
    """The MovieLens items as a Catalog; release time is 1 January of the title year."""
    published = np.array(
        [
            datetime(movie.year, 1, 1, tzinfo=UTC).timestamp() if movie.year else np.nan
            for movie in movielens.movies
        ]
    )
    n_items = len(movielens.movies)
    return Catalog(
        item_ids=[movie.item_id for movie in movielens.movies],
        titles=[movie.title for movie in movielens.movies],
        descriptions=[""] * n_items,
        categories=[list(movie.genres) for movie in movielens.movies],
        brands=[None] * n_items,
        prices=np.full(n_items, np.nan),
        ratings=np.full(n_items, np.nan),
        published=published,
    )


def prepare(movielens: MovieLens, split: Split = "test") -> EvaluationData:
    """The protocol's train log, evaluated users and relevant items for a split."""
    ratings = movielens.ratings
    catalog = movielens_catalog(movielens)
    item_of = catalog.index
    items = np.array([item_of[str(i)] for i in ratings.item_id], dtype=np.int32)
    user_ids = sorted({int(u) for u in ratings.user_id})
    user_of = {u: i for i, u in enumerate(user_ids)}
    users = np.array([user_of[int(u)] for u in ratings.user_id], np.int32)
    stars = ratings.rating.astype(np.float32)
    weight = ProfileWeights().of(
        np.full(len(ratings), "rating"), np.full(len(ratings), np.nan), stars
    )
    log = InteractionLog(
        user_ids=[str(u) for u in user_ids],
        user_index=users,
        item_index=items,
        weight=weight,
        rating=stars,
        timestamp=ratings.timestamp.astype(np.float64),
        n_items=len(catalog),
    )
    return prepare_log(catalog, log, split)


class InsufficientData(ValueError):
    """The data leave no user to evaluate (no held-out positive anywhere)."""


def prepare_log(
    catalog: Catalog,
    log: InteractionLog,
    split: Split = "test",
    *,
    positive_rating: float = 4.0,
) -> EvaluationData:
    """The protocol's rules on any catalogue and its whole interaction log.

    Per user, events sorted by (timestamp, item index); the last
    floor(0.2 * n_u + 0.5) are held out, the rest train (validation: the same cut
    again inside train). Models fit on the train events as they are (their
    profile weights; weight 0 marks an item as had without liking it).
    Candidates are every item minus those the user has in train. Relevant are
    the held-out positives not already had in train: an event with a rating is
    positive at positive_rating or above, one without (click, view, purchase)
    when its profile weight is above 0.

    Raises:
        InsufficientData: no user has a relevant held-out item.
    """
    events = Ratings(
        user_id=log.user_index,
        item_id=log.item_index,
        rating=log.rating,
        timestamp=log.timestamp,
    )
    train, held_out = temporal_split(events)
    if split == "validation":
        fit_part, validation_part = temporal_split(_subset(events, train))
        train_rows = np.flatnonzero(train)
        train = np.zeros_like(train)
        held_out = np.zeros_like(train)
        train[train_rows[fit_part]] = True
        held_out[train_rows[validation_part]] = True
    rated = np.isfinite(log.rating)
    positive = np.where(rated, log.rating >= positive_rating, log.weight > 0)
    train_log = InteractionLog(
        user_ids=log.user_ids,
        user_index=log.user_index[train],
        item_index=log.item_index[train],
        weight=log.weight[train],
        rating=log.rating[train],
        timestamp=log.timestamp[train],
        n_items=log.n_items,
    )
    histories, relevant = _users(
        train_log, log.user_index, log.item_index, held_out & positive
    )
    if not histories:
        raise InsufficientData(
            f"no user has a held-out positive in the {split} split: evaluation "
            "needs users with several events over time, some of them positive"
        )
    item_users = np.bincount(train_log.item_index, minlength=len(catalog))
    return EvaluationData(
        split,
        catalog,
        train_log,
        histories,
        relevant,
        _genres(catalog),
        item_users.astype(float),
    )


def _subset(ratings: Ratings, mask: np.ndarray) -> Ratings:
    return Ratings(
        user_id=ratings.user_id[mask],
        item_id=ratings.item_id[mask],
        rating=ratings.rating[mask],
        timestamp=ratings.timestamp[mask],
    )


def _users(
    log: InteractionLog, users: np.ndarray, items: np.ndarray, relevant: np.ndarray
) -> tuple[list[UserHistory], list[np.ndarray]]:
    order = np.argsort(log.user_index, kind="stable")
    bounds = np.searchsorted(log.user_index[order], np.arange(len(log.user_ids) + 1))
    wanted = sparse.csr_matrix(
        (np.ones(int(relevant.sum())), (users[relevant], items[relevant])),
        shape=(len(log.user_ids), log.n_items),
    )
    histories, relevant_items = [], []
    for position in range(len(log.user_ids)):
        rows = order[bounds[position] : bounds[position + 1]]
        liked = np.setdiff1d(wanted[position].indices, log.item_index[rows])
        if liked.size == 0:
            continue
        histories.append(
            UserHistory(
                item_index=log.item_index[rows].astype(np.int64),
                weight=log.weight[rows],
                user_position=position,
            )
        )
        relevant_items.append(liked.astype(np.int64))
    return histories, relevant_items


def _genres(catalog: Catalog) -> sparse.csr_matrix:
    names = sorted({g for tags in catalog.categories for g in tags})
    column = {name: j for j, name in enumerate(names)}
    rows, columns, values = [], [], []
    for row, tags in enumerate(catalog.categories):
        for tag in set(tags):
            rows.append(row)
            columns.append(column[tag])
            values.append(1.0 / len(set(tags)))
    return sparse.csr_matrix(
        (values, (rows, columns)), shape=(len(catalog), len(names))
    )


def run(model: Recommender, data: EvaluationData, k: int = K) -> UserResults:
    """Every evaluated user's top-k list from a fitted model, checked and scored."""
    lists = np.full((data.n_users, k), -1, dtype=np.int64)
    fallback = np.zeros(data.n_users, dtype=bool)
    milliseconds = np.zeros(data.n_users)
    share = np.full(data.n_users, np.nan)
    measure_share = getattr(model, "effective_content_share", None)
    for row, history in enumerate(data.histories):
        start = time.perf_counter()
        recommendation = model.recommend(history, k)
        milliseconds[row] = (time.perf_counter() - start) * 1000.0
        _check(recommendation.item_index, recommendation.scores, history, row)
        lists[row, : recommendation.item_index.size] = recommendation.item_index
        fallback[row] = recommendation.fallback
        if measure_share is not None:
            value = measure_share(history)
            share[row] = np.nan if value is None else value
    found = metrics.hits(lists, data.relevant)
    n_relevant = np.array([r.size for r in data.relevant])
    return UserResults(
        lists=lists,
        precision=metrics.precision(found, k),
        recall=metrics.recall(found, n_relevant),
        ndcg=metrics.ndcg(found, n_relevant),
        entropy=metrics.genre_entropy(lists, data.genres),
        novelty=metrics.self_information(
            lists, data.item_users, len(data.train.user_ids)
        ),
        fallback=fallback,
        milliseconds=milliseconds,
        content_share=share,
    )


def _check(
    items: np.ndarray, scores: np.ndarray, history: UserHistory, row: int
) -> None:
    problems = []
    if np.isin(items, history.item_index).any():
        problems.append("an item the user already has")
    if np.unique(items).size != items.size:
        problems.append("a duplicate item")
    if not np.all(np.isfinite(scores)):
        problems.append("a non-finite score")
    if problems:
        raise ProtocolViolation(f"list of evaluated user #{row} has {problems}")


def summarise(
    results: dict[str, UserResults],
    data: EvaluationData,
    *,
    baseline: str | None,
    alphas: dict[str, float | None],
    n_resamples: int = 2000,
    seed: int = 0,
) -> list[ModelSummary]:
    """Means with bootstrap CIs, and paired differences against the baseline.

    Every model is resampled with the same user indices, so the differences
    are paired per user.
    """
    rng = np.random.default_rng(seed)
    indices = metrics.resample_indices(data.n_users, n_resamples, rng)
    names = ("precision", "recall", "ndcg", "entropy", "novelty")
    summaries = []
    for name, result in results.items():
        values = {m: getattr(result, m) for m in names}
        differences = {}
        if baseline is not None and name != baseline:
            base = results[baseline]
            differences = {
                m: metrics.bootstrap(values[m] - getattr(base, m), indices)
                for m in ("precision", "recall", "ndcg")
            }
        shares = result.content_share[np.isfinite(result.content_share)]
        summaries.append(
            ModelSummary(
                name=name,
                metrics={m: metrics.bootstrap(values[m], indices) for m in names},
                coverage=metrics.coverage(result.lists, len(data.catalog)),
                fallback_users=int(result.fallback.sum()),
                n_users=data.n_users,
                ms_p50=float(np.median(result.milliseconds)),
                alpha=alphas.get(name),
                effective_content_share=float(shares.mean()) if shares.size else None,
                versus_baseline=differences,
            )
        )
    return summaries


@dataclass(frozen=True)
class ModelSpec:
    """One row of an evaluation: a display name, a recommender type, its params."""

    name: str
    type: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Report:
    protocol: str
    split: Split
    k: int
    n_users: int
    n_resamples: int
    seed: int
    baseline: str | None
    models: list[ModelSummary]


def evaluate(
    movielens: MovieLens,
    specs: list[ModelSpec],
    *,
    baseline: str | None = None,
    split: Split = "test",
    n_resamples: int = 2000,
    seed: int = 0,
) -> Report:
    """Protocol ml100k-temporal-v1: fit every spec on the split's train log and
    summarise it on its users.

    Raises:
        InvalidRecommenderConfig: a spec has an unknown type or bad params.
        ProtocolViolation: a model returned a forbidden list.
    """
    return evaluate_data(
        prepare(movielens, split),
        specs,
        baseline=baseline,
        n_resamples=n_resamples,
        seed=seed,
    )


def evaluate_log(
    catalog: Catalog,
    log: InteractionLog,
    specs: list[ModelSpec],
    *,
    baseline: str | None = None,
    split: Split = "test",
    positive_rating: float = 4.0,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Report:
    """The same rules on a user's own catalogue and interaction log (for example
    read from the database), reported as protocol OWN_DATA_PROTOCOL.

    `log` holds every event to split, old and new, with profile weights
    (0 for events that only mark an item as had), ratings (NaN for events
    without one) and timestamps; see `prepare_log` for the rules.

    Raises:
        InsufficientData: no user can be evaluated.
        InvalidRecommenderConfig: a spec has an unknown type or bad params.
        ProtocolViolation: a model returned a forbidden list.
    """
    data = prepare_log(catalog, log, split, positive_rating=positive_rating)
    return evaluate_data(
        data,
        specs,
        baseline=baseline,
        n_resamples=n_resamples,
        seed=seed,
        protocol=OWN_DATA_PROTOCOL,
    )


def evaluate_data(
    data: EvaluationData,
    specs: list[ModelSpec],
    *,
    baseline: str | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    protocol: str = PROTOCOL,
) -> Report:
    """Fit every spec on a prepared split's train log and summarise it."""
    results: dict[str, UserResults] = {}
    alphas: dict[str, float | None] = {}
    for spec in specs:
        params = registry.validate(spec.type, spec.params)
        started = time.perf_counter()
        model = registry.build(spec.type, params).fit(data.catalog, data.train)
        _log.info("fitted %s in %.2f s", spec.name, time.perf_counter() - started)
        results[spec.name] = run(model, data)
        alpha = params.get("alpha")
        alphas[spec.name] = float(alpha) if alpha is not None else None
    summaries = summarise(
        results,
        data,
        baseline=baseline,
        alphas=alphas,
        n_resamples=n_resamples,
        seed=seed,
    )
    return Report(
        protocol, data.split, K, data.n_users, n_resamples, seed, baseline, summaries
    )
