"""Content-based: a user's profile is the weighted mean of the vectors of their items.

An item's vector joins blocks, each scaled by its configured weight:

- text: an embedding of title, description and category tags from
  `recommenders.embeddings` (by default TF-IDF reduced by truncated SVD, fitted
  on the catalogue), rows of unit length; a corpus-free embedder's item rows are
  taken from `Catalog.text_embeddings` where stored, and the rows a fit had to
  compute are handed out by `take_embedded_rows` for the caller to store;
- image: the catalogue's own image embedding when it has one, rows of unit length;
- categories and brand: one-hot, rows of unit length;
- numeric: log count of training positives, a shrunk mean training rating and
  release recency, each scaled to [0, 1]. They come from the training log only,
  so an offline evaluation never sees the test period.

A user's recent search queries are embedded into the text block and mixed into
the profile with `query_weight`: explicit intent, which also gives a user with
no history yet a content profile.

An item without any interaction still has text and category blocks, so it can be
recommended through content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.preprocessing import normalize

from recommenders._shared import FallbackRecommender, fitted, positive_history
from recommenders.data import Catalog, InteractionLog, UserHistory
from recommenders.embeddings import (
    EmbeddingConfig,
    EmbeddingError,
    TextEmbedder,
    catalog_texts,
    embed_items,
    make_embedder,
)

_log = logging.getLogger(__name__)
# Embedded query texts kept per fitted model (the same query recurs across users
# and requests; a remote backend would otherwise be called every time).
_QUERY_CACHE_SIZE = 4096


class ContentConfig(BaseModel):
    """Settings of the content recommender: block weights and text features."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    text_weight: float = Field(default=0.5, ge=0, le=1e6)
    """Weight of the text embedding block (title, description, category tags)."""
    text: EmbeddingConfig = EmbeddingConfig()
    """Which text embedding makes the text block (backend, dimensions)."""
    image_weight: float = Field(default=0.5, ge=0, le=1e6)
    """Weight of the image block, used when the catalogue has image embeddings."""
    category_weight: float = Field(default=1.0, ge=0, le=1e6)
    """Weight of the one-hot category block."""
    brand_weight: float = Field(default=0.5, ge=0, le=1e6)
    """Weight of the one-hot brand block (items without a brand have none)."""
    popularity_weight: float = Field(default=1.5, ge=0, le=1e6)
    """Weight of log(1 + training positives)."""
    rating_weight: float = Field(default=0.25, ge=0, le=1e6)
    """Weight of the shrunk mean training rating."""
    recency_weight: float = Field(default=1.0, ge=0, le=1e6)
    """Weight of release recency: 2 ** -(age / recency_half_life_years), where age
    is from Catalog.published to the newest training event (0 when unknown)."""
    recency_half_life_years: float = Field(default=2.0, gt=0, le=1e6)
    """Release age at which the recency feature halves."""
    numeric_scaling: Literal["unit", "zscore"] = "zscore"
    """unit keeps the numeric features in [0, 1]; zscore centres and scales them
    over the catalogue so that they add no constant to every profile."""
    rating_prior_count: float = Field(default=10.0, ge=0, le=1e9)
    """Pseudo-ratings at the global mean added to each item's ratings (shrinkage)."""
    query_weight: float = Field(default=0.3, ge=0, le=1)
    """Share of the profile that comes from the user's recent search queries when
    they have any (1 - this from their items); a user with queries and no items
    gets a profile from the queries alone."""
    query_recency: float = Field(default=0.5, gt=0, le=1)
    """Each older query weighs this times the next newer one."""
    similarity: Literal["cosine", "dot"] = "dot"
    """cosine divides each item's score by its vector length; dot does not, so the
    numeric blocks reward popular, well-rated, recent items monotonically."""


@dataclass(frozen=True, eq=False)
class EmbeddedRows:
    """Item text vectors that one fit computed afresh, for a caller to store."""

    key: str
    """The embedder's key (`TextEmbedder.key`)."""
    rows: np.ndarray
    """int64 indices into the Catalog fitted."""
    vectors: np.ndarray
    """float32 (len(rows), dim), unit rows as the embedder gives them."""


class Content(FallbackRecommender):
    """Scores items by the similarity of their vectors to the user's profile.

    Item vectors are kept in two parts, a dense one (text, image, numeric) and a
    sparse one (one-hot categories and brand), so that scoring a catalogue of
    100,000 items stays one dense and one sparse matrix-vector product.
    """

    def __init__(self, config: ContentConfig | None = None) -> None:
        self.config = config or ContentConfig()
        self._dense: np.ndarray | None = None
        self._sparse: sparse.csr_matrix | None = None
        self._norms: np.ndarray | None = None
        self._embedder: TextEmbedder | None = None
        self._text_dim = 0
        self._query_cache: dict[str, np.ndarray] = {}
        self._embedded: EmbeddedRows | None = None

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        config = self.config
        text = config.text_weight * self._text_block(catalog)
        self._text_dim = text.shape[1]
        dense = [text, self._image_block(catalog), self._numeric_block(catalog, log)]
        self._dense = np.ascontiguousarray(np.hstack(dense), dtype=np.float32)
        brands = [[b] if b else [] for b in catalog.brands]
        self._sparse = sparse.hstack(
            [
                config.category_weight * _one_hot(catalog.categories),
                config.brand_weight * _one_hot(brands),
            ],
            format="csr",
            dtype=np.float32,
        )
        squared = (self._dense.astype(np.float64) ** 2).sum(axis=1)
        squared += np.asarray(self._sparse.multiply(self._sparse).sum(axis=1)).ravel()
        norms = np.sqrt(squared)
        self._norms = np.where(norms > 0, norms, 1.0)
        self._query_cache = {}
        return self

    @property
    def embedder(self) -> TextEmbedder:
        """The fitted text embedder (it also embeds search queries)."""
        return fitted(self, self._embedder)

    @property
    def stored_text_key(self) -> str | None:
        """The key of the stored item text vectors a fit would use, known before
        the fit; None when it would use none.

        Only a corpus-free embedder's vectors are used: a TF-IDF space is fitted
        on the catalogue itself, so its key changes with any item text, and a
        stored copy of its vectors would not spare the fit, which search queries
        need anyway.

        Raises:
            EmbeddingError: the backend is misconfigured.
        """
        if self.config.text_weight == 0:
            return None
        embedder = make_embedder(self.config.text)
        return embedder.key if embedder.corpus_free else None

    def take_embedded_rows(self) -> EmbeddedRows | None:
        """The item text vectors the last fit computed rather than took from
        `Catalog.text_embeddings` (corpus-free embedders only), for the caller to
        store. Forgotten once taken, so that the model keeps no second copy."""
        embedded, self._embedded = self._embedded, None
        return embedded

    def _text_block(self, catalog: Catalog) -> np.ndarray:
        texts = catalog_texts(catalog)
        embedder = make_embedder(self.config.text)
        self._embedded = None
        if self.config.text_weight == 0:
            self._embedder = embedder.fit(texts)
            return np.zeros((len(catalog), 0), dtype=np.float32)
        embedder.fit(texts)
        self._embedder = embedder
        if not embedder.corpus_free:
            return embedder.transform(texts)
        stored = _of_embedder_size(embedder, catalog.text_embeddings.get(embedder.key))
        vectors = embed_items(embedder, texts, stored)
        fresh = (
            np.arange(len(texts))
            if stored is None
            else np.flatnonzero(~np.isfinite(stored).all(axis=1))
        )
        if fresh.size:
            self._embedded = EmbeddedRows(embedder.key, fresh, vectors[fresh])
        return vectors

    def _image_block(self, catalog: Catalog) -> np.ndarray:
        images = catalog.image_embeddings
        if images is None or self.config.image_weight == 0:
            return np.zeros((len(catalog), 0), dtype=np.float32)
        images = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0)
        if images.shape[0] != len(catalog):
            raise ValueError(
                f"image_embeddings has {images.shape[0]} rows for {len(catalog)} items"
            )
        return self.config.image_weight * np.asarray(normalize(images))

    def _numeric_block(self, catalog: Catalog, log: InteractionLog) -> np.ndarray:
        config = self.config
        n_items = len(catalog)
        positive = log.weight > 0
        positives = np.bincount(log.item_index[positive], minlength=n_items)
        log_count = np.log1p(positives.astype(np.float64))
        top = log_count.max() if n_items else 0.0
        popularity = log_count / top if top > 0 else log_count

        rated = np.isfinite(log.rating)
        stars = log.rating[rated].astype(np.float64)
        global_mean = float(stars.mean()) if stars.size else 3.0
        sums = np.bincount(log.item_index[rated], weights=stars, minlength=n_items)
        counts = np.bincount(log.item_index[rated], minlength=n_items)
        prior = config.rating_prior_count
        denominator = counts + prior
        shrunk = np.divide(
            sums + prior * global_mean,
            denominator,
            out=np.full(n_items, global_mean),
            where=denominator > 0,
        )
        rating = np.clip((shrunk - 1.0) / 4.0, 0.0, 1.0)

        published = np.asarray(catalog.published, dtype=np.float64)
        known = np.isfinite(published)
        recency = np.zeros(n_items)
        if known.any():
            now = float(log.timestamp.max()) if len(log) else published[known].max()
            age_years = np.maximum(now - published[known], 0.0) / (365.25 * 86_400)
            recency[known] = np.exp2(-age_years / config.recency_half_life_years)
        features = np.column_stack([popularity, rating, recency])
        if config.numeric_scaling == "zscore" and n_items > 0:
            spread = features.std(axis=0)
            features = (features - features.mean(axis=0)) / np.where(
                spread > 0, spread, 1.0
            )
        weights = [
            config.popularity_weight,
            config.rating_weight,
            config.recency_weight,
        ]
        return np.asarray(features * np.array(weights), dtype=np.float64)

    def profile(self, history: UserHistory) -> tuple[np.ndarray, np.ndarray] | None:
        """The user's unit-length profile as (dense part, sparse-block part), or
        None when they have neither positive history nor search queries."""
        dense = fitted(self, self._dense)
        one_hot = fitted(self, self._sparse)
        items, weights = positive_history(history, dense.shape[0])
        parts = None
        if items.size:
            weights = weights / weights.sum()
            parts = (
                weights @ dense[items].astype(np.float64),
                np.asarray(one_hot[items].T @ weights).ravel(),
            )
            parts = _unit_parts(parts)
        intent = self._query_profile(history.queries, dense.shape[1], one_hot.shape[1])
        if intent is None or parts is None:
            return parts if intent is None else intent
        share = self.config.query_weight
        return _unit_parts(
            (
                (1.0 - share) * parts[0] + share * intent[0],
                (1.0 - share) * parts[1] + share * intent[1],
            )
        )

    def _query_profile(
        self, queries: tuple[str, ...], n_dense: int, n_sparse: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Recency-weighted mean of the embedded queries, in the text block."""
        queries = tuple(q for q in queries if q.strip())
        if not queries or self._text_dim == 0 or self.config.query_weight == 0:
            return None
        try:
            vectors = self._embed_queries(queries)
        except EmbeddingError as error:
            _log.warning("search queries ignored: %s", error)
            return None
        if vectors.shape[1] != self._text_dim:
            # Items came from stored vectors of a size the model no longer gives.
            _log.warning(
                "search queries ignored: %d dimensions, items have %d",
                vectors.shape[1],
                self._text_dim,
            )
            return None
        decay = self.config.query_recency ** np.arange(len(queries))[::-1]
        text = decay @ vectors.astype(np.float64)
        dense = np.zeros(n_dense)
        dense[: self._text_dim] = self.config.text_weight * text
        return _unit_parts((dense, np.zeros(n_sparse)))

    def _embed_queries(self, queries: tuple[str, ...]) -> np.ndarray:
        cache = self._query_cache
        missing = list(dict.fromkeys(q for q in queries if q not in cache))
        if missing:
            if len(cache) + len(missing) > _QUERY_CACHE_SIZE:
                cache.clear()
            for query, vector in zip(
                missing, self.embedder.transform(missing), strict=True
            ):
                cache[query] = vector
        return np.vstack([cache[q] for q in queries])

    def _score(self, history: UserHistory) -> np.ndarray | None:
        profile = self.profile(history)
        if profile is None:
            return None
        dense_part, sparse_part = profile
        scores = fitted(self, self._dense) @ dense_part.astype(np.float32)
        scores = scores.astype(np.float64)
        if sparse_part.any():
            scores += fitted(self, self._sparse) @ sparse_part
        if self.config.similarity == "cosine":
            scores /= fitted(self, self._norms)
        return scores


def _of_embedder_size(
    embedder: TextEmbedder, stored: np.ndarray | None
) -> np.ndarray | None:
    """`stored` when its vectors have the embedder's size, else None (embed every
    item again): a model swapped under the same key must not mix two spaces."""
    if stored is None:
        return None
    try:
        dimensions = embedder.dimensions
    except EmbeddingError as error:
        # The size cannot be asked now; vectors to embed would fail the same way.
        _log.warning(
            "size of %s unknown (%s); stored vectors used", embedder.key, error
        )
        return stored
    if stored.shape[1] != dimensions:
        _log.warning(
            "stored vectors of %s have %d dimensions, the embedder gives %d; "
            "every item is embedded again",
            embedder.key,
            stored.shape[1],
            dimensions,
        )
        return None
    return stored


def _unit_parts(
    parts: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray] | None:
    """Both parts divided by the length of the joined vector; None when zero."""
    length = float(np.sqrt(parts[0] @ parts[0] + parts[1] @ parts[1]))
    if length == 0:
        return None
    return parts[0] / length, parts[1] / length


def _one_hot(tags: list[list[str]]) -> sparse.csr_matrix:
    """Items x distinct tags, rows of unit length (all zero for untagged items)."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    for row, item_tags in enumerate(tags):
        for tag in dict.fromkeys(item_tags):
            rows.append(row)
            columns.append(vocabulary.setdefault(tag, len(vocabulary)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, columns)),
        shape=(len(tags), len(vocabulary)),
        dtype=np.float64,
    )
    return _unit_rows(matrix)


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length; all-zero rows (and zero-column matrices) stay."""
    if matrix.shape[1] == 0:
        return sparse.csr_matrix(matrix, dtype=np.float64)
    return sparse.csr_matrix(normalize(matrix), dtype=np.float64)
