"""Item vectors stored in the database: loaded aligned to the catalogue, saved
once, and reused by serving's model fits instead of being computed again."""

from __future__ import annotations

from typing import NoReturn

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from experimentation import embedding_store
from experimentation.embedding_store import load_vectors, save_vectors
from experimentation.models import Item, ItemEmbedding
from experimentation.serving import ModelStore
from recommenders.content import Content
from recommenders.data import UserHistory
from recommenders.embeddings import TextEmbedder, catalog_texts, text_digest
from recommenders.weights import ProfileWeights
from tests.recommenders import test_embeddings
from tests.recommenders.test_embeddings import CountingEmbedder
from tests.utils.factories import add_catalogue, add_history

KEY = "counting:v1"


def _rows(session: Session, key: str = KEY) -> dict[str, ItemEmbedding]:
    session.expire_all()
    found = session.scalars(
        select(ItemEmbedding).where(ItemEmbedding.embedder_key == key)
    )
    return {row.item_id: row for row in found}


def test_load_aligns_to_the_catalogue_and_leaves_stale_rows_out(
    session: Session,
) -> None:
    save_vectors(
        session,
        KEY,
        ["a", "b", "c", "gone"],
        [text_digest("A"), text_digest("B"), text_digest("old C"), "x"],
        np.array([[1, 0], [0, 1], [1, 1], [5, 5]], dtype=np.float32),
    )
    save_vectors(session, "other", ["a"], [text_digest("A")], np.ones((1, 2)))
    session.commit()
    item_ids = ["c", "new", "b", "a"]
    vectors = load_vectors(
        session,
        KEY,
        item_ids,
        [text_digest(t) for t in ("new C", "new", "B", "A")],
    )
    assert vectors is not None and vectors.dtype == np.float32
    assert vectors.shape == (4, 2)
    assert np.isnan(vectors[0]).all()  # text changed since it was stored
    assert np.isnan(vectors[1]).all()  # nothing stored
    np.testing.assert_array_equal(vectors[2:], [[0, 1], [1, 0]])
    # Without digests (image vectors), any stored row counts.
    loose = load_vectors(session, KEY, item_ids)
    assert loose is not None
    np.testing.assert_array_equal(loose[0], [1, 1])
    assert load_vectors(session, "nobody", item_ids) is None
    assert load_vectors(session, KEY, ["new"], [text_digest("new")]) is None


def test_save_replaces_an_items_vector_in_place(session: Session) -> None:
    save_vectors(session, KEY, ["a"], ["d1"], np.array([[1.0, 2.0]]))
    save_vectors(session, KEY, ["a"], ["d2"], np.array([[3.0, 4.0, 5.0]]))
    session.commit()
    rows = _rows(session)
    assert list(rows) == ["a"]
    assert (rows["a"].text_sha256, rows["a"].dim) == ("d2", 3)
    assert np.frombuffer(rows["a"].vector, "<f4").tolist() == [3.0, 4.0, 5.0]


def test_load_leaves_out_rows_of_another_size(session: Session) -> None:
    save_vectors(session, KEY, ["a", "b"], ["da", "db"], np.ones((2, 3)))
    save_vectors(session, KEY, ["c"], ["dc"], np.ones((1, 2)))
    # A row whose bytes disagree with its dim is damaged: never loaded.
    save_vectors(session, KEY, ["d"], ["dd"], np.ones((1, 3)))
    session.execute(
        update(ItemEmbedding).where(ItemEmbedding.item_id == "d").values(dim=4)
    )
    session.commit()
    vectors = load_vectors(session, KEY, ["a", "b", "c", "d"], ["da", "db", "dc", "dd"])
    assert vectors is not None and vectors.shape == (4, 3)
    assert np.isfinite(vectors[:2]).all()
    assert np.isnan(vectors[2:]).all()


def test_save_refuses_misaligned_input(session: Session) -> None:
    with pytest.raises(ValueError, match="do not line up"):
        save_vectors(session, KEY, ["a", "b"], ["d"], np.ones((2, 2)))


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every content model embeds with a CountingEmbedder (a corpus-free
    backend); returns the texts each embedded, call by call."""
    calls: list[list[str]] = []

    def make(_config: object) -> TextEmbedder:
        embedder = CountingEmbedder()
        embedder.calls = calls
        return embedder

    monkeypatch.setattr("recommenders.content.make_embedder", make)
    return calls


def _stored_catalogue(engine: Engine) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session, n_users=10)
        session.commit()


def history_of(store: ModelStore) -> UserHistory:
    """The first user of the training log, with their training items."""
    log = store.snapshot().interactions
    items = log.item_index[log.user_index == 0]
    return UserHistory(
        item_index=items.astype(np.int64),
        weight=np.ones(len(items), np.float32),
        user_position=0,
        queries=("a comedy film",),
    )


def _embedded(calls: list[list[str]]) -> list[str]:
    return [text for call in calls for text in call]


@pytest.mark.parametrize("recommender", ["content", "hybrid"])
def test_stored_vectors_are_used_not_computed_again(
    engine: Engine, counting: list[list[str]], recommender: str
) -> None:
    _stored_catalogue(engine)
    first = ModelStore(engine, ProfileWeights()).model(recommender, {})
    texts = catalog_texts(ModelStore(engine, ProfileWeights()).snapshot().catalog)
    assert _embedded(counting) == texts  # a fresh install embeds every item once
    with Session(engine) as session:
        rows = _rows(session)
    assert len(rows) == 40
    assert rows["item-0"].text_sha256 == text_digest(texts[0])
    assert rows["item-0"].dim == 2

    counting.clear()
    restarted = ModelStore(engine, ProfileWeights())
    again = restarted.model(recommender, {})
    assert counting == []  # a restart embeds nothing
    restarted.refresh()
    assert counting == []  # nor does a refresh of an unchanged catalogue
    user = history_of(store=restarted)
    np.testing.assert_allclose(first.score(user), again.score(user), rtol=1e-5)


def test_changed_text_is_embedded_again_and_replaces_its_vector(
    engine: Engine, counting: list[list[str]]
) -> None:
    _stored_catalogue(engine)
    store = ModelStore(engine, ProfileWeights())
    store.model("content", {})
    counting.clear()
    with Session(engine) as session:
        session.execute(
            update(Item).where(Item.item_id == "item-3").values(title="A new name")
        )
        session.commit()
    store.refresh()
    catalog = store.snapshot().catalog
    new_text = catalog_texts(catalog)[catalog.index["item-3"]]
    assert "A new name" in new_text
    assert _embedded(counting) == [new_text]
    with Session(engine) as session:
        rows = _rows(session)
        assert len(rows) == 40
        assert rows["item-3"].text_sha256 == text_digest(new_text)


def test_stored_vectors_of_another_size_are_all_replaced(
    engine: Engine, counting: list[list[str]]
) -> None:
    """A model swapped under the same key: its new size wins, the old rows go."""
    _stored_catalogue(engine)
    catalog = ModelStore(engine, ProfileWeights()).snapshot().catalog
    texts = catalog_texts(catalog)
    with Session(engine) as session:
        save_vectors(
            session,
            KEY,
            catalog.item_ids,
            [text_digest(t) for t in texts],
            np.ones((len(texts), 3)),
        )
        session.commit()
    ModelStore(engine, ProfileWeights()).model("content", {})
    assert _embedded(counting) == texts
    with Session(engine) as session:
        assert {row.dim for row in _rows(session).values()} == {2}


def test_tfidf_vectors_are_not_stored(engine: Engine) -> None:
    _stored_catalogue(engine)
    ModelStore(engine, ProfileWeights()).model("content", {})
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(ItemEmbedding))
    assert count == 0


def test_a_failure_to_store_still_serves_the_model(
    engine: Engine,
    counting: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _stored_catalogue(engine)

    def broken(*_args: object, **_kwargs: object) -> NoReturn:
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(embedding_store, "save_vectors", broken)
    model = ModelStore(engine, ProfileWeights()).model("content", {})
    assert isinstance(model, Content)
    assert len(_embedded(counting)) == 40


# An OpenAI-compatible endpoint on loopback that records each request.
endpoint = test_embeddings.endpoint


def test_openai_backend_is_asked_for_each_item_once(
    engine: Engine, endpoint: type[test_embeddings._Endpoint]
) -> None:
    _stored_catalogue(engine)
    params = {"text": {"backend": "openai", "batch_size": 100}}
    ModelStore(engine, ProfileWeights()).model("content", params)
    assert [len(r["input"]) for r in endpoint.requests] == [40]
    endpoint.requests.clear()
    restarted = ModelStore(engine, ProfileWeights())
    restarted.model("content", params)
    restarted.refresh()
    # No item text again; only a one-text probe of the vector size per fit.
    assert [r["input"] for r in endpoint.requests] == [["dimension probe"]] * 2


def test_save_refuses_an_item_twice(session: Session) -> None:
    with pytest.raises(ValueError, match="appears twice"):
        save_vectors(session, KEY, ["a", "a"], ["d", "d"], np.ones((2, 2)))
