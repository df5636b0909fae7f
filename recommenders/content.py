"""Content-based: a user's profile is the weighted mean of the vectors of their items.

An item's vector joins blocks, each scaled by its configured weight:

- text: TF-IDF of title, description and category tags (optionally reduced with
  truncated SVD), rows of unit length;
- categories and brand: one-hot, rows of unit length;
- numeric: log count of training positives, a shrunk mean training rating and
  release recency, each scaled to [0, 1]. They come from the training log only,
  so an offline evaluation never sees the test period.

An item without any interaction still has text and category blocks, so it can be
recommended through content.
"""

from __future__ import annotations

from typing import Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommenders._shared import FallbackRecommender, fitted, positive_history
from recommenders.data import Catalog, InteractionLog, UserHistory


class ContentConfig(BaseModel):
    """Settings of the content recommender: block weights and text features."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    text_weight: float = Field(default=0.5, ge=0)
    """Weight of the TF-IDF block (title, description, category tags)."""
    category_weight: float = Field(default=1.0, ge=0)
    """Weight of the one-hot category block."""
    brand_weight: float = Field(default=0.5, ge=0)
    """Weight of the one-hot brand block (items without a brand have none)."""
    popularity_weight: float = Field(default=1.5, ge=0)
    """Weight of log(1 + training positives)."""
    rating_weight: float = Field(default=0.25, ge=0)
    """Weight of the shrunk mean training rating."""
    recency_weight: float = Field(default=1.0, ge=0)
    """Weight of release recency: 2 ** -(age / recency_half_life_years), where age
    is from Catalog.published to the newest training event (0 when unknown)."""
    recency_half_life_years: float = Field(default=2.0, gt=0)
    """Release age at which the recency feature halves."""
    numeric_scaling: Literal["unit", "zscore"] = "zscore"
    """unit keeps the numeric features in [0, 1]; zscore centres and scales them
    over the catalogue so that they add no constant to every profile."""
    rating_prior_count: float = Field(default=10.0, ge=0)
    """Pseudo-ratings at the global mean added to each item's ratings (shrinkage)."""
    text_components: int | None = Field(default=None, ge=1)
    """Reduce the TF-IDF block to this many SVD components; None keeps it sparse."""
    similarity: Literal["cosine", "dot"] = "dot"
    """cosine divides each item's score by its vector length; dot does not, so the
    numeric blocks reward popular, well-rated, recent items monotonically."""
    seed: int = 0
    """Seed of the SVD's random state (only used with text_components)."""


class Content(FallbackRecommender):
    """Scores items by the similarity of their vectors to the user's profile."""

    def __init__(self, config: ContentConfig | None = None) -> None:
        self.config = config or ContentConfig()
        self._vectors: sparse.csr_matrix | None = None
        self._norms: np.ndarray | None = None

    def fit(self, catalog: Catalog, log: InteractionLog) -> Self:
        self._fit_popularity(log)
        config = self.config
        blocks = [
            config.text_weight * self._text_block(catalog),
            config.category_weight * _one_hot(catalog.categories),
            config.brand_weight * _one_hot([[b] if b else [] for b in catalog.brands]),
            sparse.csr_matrix(self._numeric_block(catalog, log)),
        ]
        vectors = sparse.hstack(blocks, format="csr", dtype=np.float64)
        vectors.eliminate_zeros()
        self._vectors = vectors
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        self._norms = np.where(norms > 0, norms, 1.0)
        return self

    def _text_block(self, catalog: Catalog) -> sparse.csr_matrix:
        documents = [
            " ".join([title, description, *tags])
            for title, description, tags in zip(
                catalog.titles, catalog.descriptions, catalog.categories, strict=True
            )
        ]
        vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float64)
        try:
            tfidf = vectorizer.fit_transform(documents)
        except ValueError:  # empty vocabulary: no item has any text
            return sparse.csr_matrix((len(catalog), 0), dtype=np.float64)
        components = self.config.text_components
        if components is not None and components < min(tfidf.shape):
            svd = TruncatedSVD(n_components=components, random_state=self.config.seed)
            return sparse.csr_matrix(normalize(svd.fit_transform(tfidf)))
        return _unit_rows(tfidf)

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
        if config.numeric_scaling == "zscore":
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

    def profile(self, history: UserHistory) -> np.ndarray | None:
        """The user's unit-length profile vector, or None without positive history."""
        vectors = fitted(self, self._vectors)
        items, weights = positive_history(history, vectors.shape[0])
        if items.size == 0:
            return None
        profile = np.asarray(vectors[items].T @ weights).ravel() / weights.sum()
        length = float(np.linalg.norm(profile))
        return profile / length if length > 0 else None

    def _score(self, history: UserHistory) -> np.ndarray | None:
        profile = self.profile(history)
        if profile is None:
            return None
        vectors = fitted(self, self._vectors)
        scores = np.asarray(vectors @ profile, dtype=np.float64).ravel()
        if self.config.similarity == "cosine":
            scores /= fitted(self, self._norms)
        return scores


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
