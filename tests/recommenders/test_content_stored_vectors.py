"""The content model's side of stored item vectors: which key it would use, and
which rows a fit computed for the caller to store."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recommenders.content import Content, ContentConfig
from recommenders.data import Catalog
from recommenders.embeddings import EmbeddingError, TextEmbedder, catalog_texts
from tests.recommenders.conftest import small_catalog, small_log
from tests.recommenders.contract import history
from tests.recommenders.test_embeddings import CountingEmbedder


def _with_stored(vectors: np.ndarray, key: str = "counting:v1") -> Catalog:
    catalog = small_catalog()
    return Catalog(**{**catalog.__dict__, "text_embeddings": {key: vectors}})


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> CountingEmbedder:
    embedder = CountingEmbedder()
    monkeypatch.setattr("recommenders.content.make_embedder", lambda _: embedder)
    return embedder


def test_tfidf_model_uses_and_hands_out_no_stored_vectors() -> None:
    model = Content()
    assert model.stored_text_key is None
    model.fit(small_catalog(), small_log())
    assert model.take_embedded_rows() is None


def test_no_key_when_the_text_block_is_off(embedder: CountingEmbedder) -> None:
    assert Content(ContentConfig(text_weight=0)).stored_text_key is None
    assert Content().stored_text_key == "counting:v1"


def test_fit_hands_out_only_the_rows_it_computed(embedder: CountingEmbedder) -> None:
    stored = np.tile(np.array([[0.6, 0.8]], dtype=np.float32), (8, 1))
    stored[[3, 5]] = np.nan
    model = Content().fit(_with_stored(stored), small_log())
    embedded = model.take_embedded_rows()
    assert embedded is not None and embedded.key == "counting:v1"
    assert embedded.rows.tolist() == [3, 5]
    texts = catalog_texts(small_catalog())
    assert embedder.calls == [[texts[3], texts[5]]]
    np.testing.assert_allclose(
        embedded.vectors, embedder.transform([texts[3], texts[5]]), rtol=1e-6
    )
    assert model.take_embedded_rows() is None  # taken once, then forgotten


def test_fit_without_stored_vectors_hands_out_every_row(
    embedder: CountingEmbedder,
) -> None:
    model = Content().fit(small_catalog(), small_log())
    embedded = model.take_embedded_rows()
    assert embedded is not None and embedded.rows.tolist() == list(range(8))
    assert embedded.vectors.shape == (8, 2)


def test_stored_vectors_of_another_size_are_embedded_again(
    embedder: CountingEmbedder,
) -> None:
    stored = np.ones((8, 3), dtype=np.float32)  # complete, but 3 wide, not 2
    model = Content().fit(_with_stored(stored), small_log())
    embedded = model.take_embedded_rows()
    assert embedded is not None and embedded.rows.tolist() == list(range(8))
    assert embedded.vectors.shape == (8, 2)


class SizeUnknownEmbedder(CountingEmbedder):
    """An endpoint that cannot be asked its size right now."""

    @property
    def dimensions(self) -> int:
        raise EmbeddingError("endpoint down")


def test_queries_of_another_size_than_the_stored_items_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedder: TextEmbedder = SizeUnknownEmbedder()
    monkeypatch.setattr("recommenders.content.make_embedder", lambda _: embedder)
    stored = np.ones((8, 3), dtype=np.float32)
    model = Content().fit(_with_stored(stored), small_log())
    assert model.take_embedded_rows() is None  # stored vectors trusted
    user = history([0], [1.0])
    with_queries = replace(user, queries=("funny",))
    # The 2-wide query vector cannot join 3-wide items: left out, no error.
    np.testing.assert_array_equal(model.score(with_queries), model.score(user))
