"""Image vectors imported with the items reach the catalogue the models fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from experimentation.embedding_store import IMAGE_KEY
from experimentation.errors import InvalidInput
from experimentation.importers import import_items
from experimentation.models import Item, ItemEmbedding
from experimentation.snapshot import load_catalog


def _jsonl(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _counts(session: Session) -> tuple[int, int]:
    items = session.scalar(select(func.count()).select_from(Item))
    vectors = session.scalar(select(func.count()).select_from(ItemEmbedding))
    return int(items or 0), int(vectors or 0)


def test_imported_image_vectors_fill_the_catalogue(
    session: Session, tmp_path: Path
) -> None:
    path = _jsonl(
        tmp_path,
        [
            {"item_id": "a", "title": "Red", "image_embedding": [1, 0.5, -2]},
            {"item_id": "b", "title": "Blue"},
            {"item_id": "c", "title": "Green", "image_embedding": [0, 0, 1e-3]},
        ],
    )
    result = import_items(session, path)
    assert (result.items, result.image_embeddings) == (3, 2)
    session.commit()
    stored = session.scalars(select(Item).where(Item.item_id == "a")).one()
    assert "image_embedding" not in stored.attributes  # not an attribute
    rows = session.scalars(select(ItemEmbedding).order_by(ItemEmbedding.item_id))
    assert [(r.embedder_key, r.item_id, r.dim) for r in rows] == [
        (IMAGE_KEY, "a", 3),
        (IMAGE_KEY, "c", 3),
    ]

    catalog = load_catalog(session)
    images = catalog.image_embeddings
    assert images is not None and images.dtype == np.float32
    assert images.shape == (3, 3)
    np.testing.assert_allclose(images[catalog.index["a"]], [1, 0.5, -2])
    np.testing.assert_allclose(images[catalog.index["c"]], [0, 0, 1e-3], rtol=1e-6)
    assert np.isnan(images[catalog.index["b"]]).all()


def test_a_catalogue_without_images_has_none(session: Session, tmp_path: Path) -> None:
    import_items(session, _jsonl(tmp_path, [{"item_id": "a"}]))
    session.commit()
    assert load_catalog(session).image_embeddings is None


def test_csv_cells_hold_json_arrays(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        'item_id,title,image_embedding\na,Red,"[0.25, 0.5]"\nb,Blue,\n'
        'c,Green,"[1, 2]"\n'
    )
    assert import_items(session, path).image_embeddings == 2
    session.commit()
    catalog = load_catalog(session)
    assert catalog.image_embeddings is not None
    np.testing.assert_array_equal(catalog.image_embeddings[0], [0.25, 0.5])
    assert np.isnan(catalog.image_embeddings[1]).all()


def test_a_later_import_replaces_an_items_image_vector(
    session: Session, tmp_path: Path
) -> None:
    import_items(session, _jsonl(tmp_path, [{"item_id": "a"}]))
    again = import_items(
        session, _jsonl(tmp_path, [{"item_id": "a", "image_embedding": [3.0, 4.0]}])
    )
    assert (again.items, again.skipped, again.image_embeddings) == (0, 1, 1)
    import_items(
        session, _jsonl(tmp_path, [{"item_id": "a", "image_embedding": [5.0, 6.0]}])
    )
    session.commit()
    assert _counts(session) == (1, 1)
    images = load_catalog(session).image_embeddings
    assert images is not None
    np.testing.assert_array_equal(images, [[5.0, 6.0]])


BAD = [
    ("a list", "0.1, 0.2", r"line 1: image_embedding: Input should be a valid list"),
    ("finite", [0.1, float("nan")], r"line 1: image_embedding\.1: .*finite number"),
    ("infinite", [float("inf")], r"line 1: image_embedding\.0: .*finite number"),
    ("a bool", [True, 0.5], r"line 1: image_embedding\.0: .*valid number"),
    ("text", ["0.5"], r"line 1: image_embedding\.0: .*valid number"),
    ("empty", [], r"line 1: image_embedding: List should have at least 1 item"),
    ("long", [0.0] * 4097, r"line 1: image_embedding: .*at most 4096 items"),
    # Past float32's range it would be stored as infinity.
    ("huge", [1e39, 0.5], r"line 1: image_embedding\.0: .*less than or equal to"),
    ("huge negative", [-3e38], r"line 1: image_embedding\.0: .*greater than"),
]


@pytest.mark.parametrize(
    ("value", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_bad_image_vector_stores_nothing(
    session: Session, tmp_path: Path, value: Any, message: str
) -> None:
    path = _jsonl(
        tmp_path,
        [
            {"item_id": "bad", "image_embedding": value},
            {"item_id": "fine", "image_embedding": [0.1, 0.2]},
        ],
    )
    with pytest.raises(InvalidInput, match=message):
        import_items(session, path)
    assert _counts(session) == (0, 0)


def test_image_vectors_of_mixed_lengths_store_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = _jsonl(
        tmp_path,
        [
            {"item_id": "a", "image_embedding": [0.1, 0.2]},
            {"item_id": "b"},
            {"item_id": "c", "image_embedding": [0.1, 0.2, 0.3]},
        ],
    )
    with pytest.raises(
        InvalidInput,
        match=r"items.jsonl: image_embedding of item c has 3 numbers, that of "
        r"item a 2; all in one import must have the same length",
    ):
        import_items(session, path)
    assert _counts(session) == (0, 0)


def test_image_vectors_must_match_those_already_stored(
    session: Session, tmp_path: Path
) -> None:
    import_items(
        session, _jsonl(tmp_path, [{"item_id": "a", "image_embedding": [1.0]}])
    )
    session.commit()
    with pytest.raises(InvalidInput, match=r"has 2 numbers; .* other items have 1"):
        import_items(
            session, _jsonl(tmp_path, [{"item_id": "b", "image_embedding": [1.0, 2.0]}])
        )
    session.rollback()
    assert _counts(session) == (1, 1)
    # Replacing every stored image vector with one of a new size is allowed.
    import_items(
        session, _jsonl(tmp_path, [{"item_id": "a", "image_embedding": [1.0, 2.0]}])
    )
    session.commit()
    images = load_catalog(session).image_embeddings
    assert images is not None and images.shape == (1, 2)


def test_a_csv_cell_that_is_not_json_stores_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text('item_id,image_embedding\na,"[0.1, 0.2]"\nb,0.1 0.2 oops\n')
    with pytest.raises(
        InvalidInput, match=r"items.csv line 3: image_embedding is not a JSON array"
    ):
        import_items(session, path)
    assert _counts(session) == (0, 0)
