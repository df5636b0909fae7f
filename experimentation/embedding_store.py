"""Item vectors kept in the database (table item_embeddings), so that each is
computed once per item rather than on every model fit.

Vectors are stored per embedding space (an embedder's key, or `IMAGE_KEY`) and
item id, with the SHA-256 of the text they came from. Loading aligns them to a
catalogue's item order, with NaN rows where nothing valid is stored: no row, a
row for an older text of the item, or a row of another size.

`fit_with_stored_vectors` is how serving fits a model: the stored text vectors
of its corpus-free embedder go in through `Catalog.text_embeddings`, and the
vectors the fit had to compute come back out and are stored. A TF-IDF model's
vectors are not stored (see `Content.stored_text_key`).

Pruning is the primary key's doing: saving a vector replaces the item's earlier
one in that space, so a space never holds more than one row per item, and a
changed text costs one overwrite. Rows of items no longer in the catalogue (the
app never deletes items) and of spaces no longer used are left alone; they are
never loaded into a catalogue, only kept.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from experimentation.models import ItemEmbedding
from recommenders.base import Recommender
from recommenders.content import Content
from recommenders.data import Catalog, InteractionLog
from recommenders.embeddings import EmbeddingError, catalog_texts, text_digest

log = logging.getLogger(__name__)

IMAGE_KEY = "image"
"""The space of the image vectors a catalogue import supplies."""
MAX_DIMENSIONS = 4096
"""Longest vector accepted from an import."""
_CHUNK = 1_000
_BYTES = np.dtype("<f4")  # float32, little-endian, whatever the machine's order

FittedModel = TypeVar("FittedModel", bound=Recommender)


def fit_with_stored_vectors(
    engine: Engine,
    model: FittedModel,
    catalog: Catalog,
    interactions: InteractionLog,
) -> FittedModel:
    """Fit `model`, reusing the item text vectors stored for its embedder and
    storing the ones it had to compute.

    A failure to store is logged, not raised: the model is fitted and serves,
    and the next fit computes those vectors again.
    """
    parts = _content_parts(model)
    keys = {key for part in parts if (key := _stored_text_key(part)) is not None}
    digests: list[str] = []
    if keys:
        digests = _text_digests(catalog)
        with Session(engine) as session:
            stored = {
                key: vectors
                for key in sorted(keys)
                if (vectors := load_vectors(session, key, catalog.item_ids, digests))
                is not None
            }
        if stored:
            catalog = replace(
                catalog, text_embeddings={**catalog.text_embeddings, **stored}
            )
    model = model.fit(catalog, interactions)
    embedded = [
        rows for part in parts if (rows := part.take_embedded_rows()) is not None
    ]
    if not embedded:
        return model
    digests = digests or _text_digests(catalog)
    try:
        with Session(engine) as session:
            for rows in embedded:
                save_vectors(
                    session,
                    rows.key,
                    [catalog.item_ids[i] for i in rows.rows],
                    [digests[i] for i in rows.rows],
                    rows.vectors,
                )
            session.commit()
    except SQLAlchemyError:
        log.exception("computed item vectors not stored; the next fit redoes them")
    return model


def _text_digests(catalog: Catalog) -> list[str]:
    return [text_digest(text) for text in catalog_texts(catalog)]


def _content_parts(model: Recommender) -> list[Content]:
    """The content models a model fits: itself, or a hybrid's content part."""
    candidates = (model, getattr(model, "content", None))
    return [part for part in candidates if isinstance(part, Content)]


def _stored_text_key(part: Content) -> str | None:
    try:
        return part.stored_text_key
    except EmbeddingError:
        return None  # the fit raises it, with the model's own message


def vector_digest(vector: np.ndarray) -> str:
    """SHA-256 of a vector's stored bytes: the digest of a vector that has no
    text, such as an image vector."""
    return hashlib.sha256(_as_bytes(vector)).hexdigest()


def load_vectors(
    session: Session,
    key: str,
    item_ids: Sequence[str],
    digests: Sequence[str] | None = None,
) -> np.ndarray | None:
    """Stored vectors of `key` as float32 (len(item_ids), dim), row i for
    item_ids[i]; None when no item has a usable one.

    With `digests` (one per item), a row counts only while its text digest is
    the item's current one. The size is that of most stored rows: a row of
    another size (written by an earlier model under the same key) is left out.
    """
    rows = session.execute(
        select(
            ItemEmbedding.item_id,
            ItemEmbedding.text_sha256,
            ItemEmbedding.dim,
            ItemEmbedding.vector,
        ).where(ItemEmbedding.embedder_key == key)
    ).all()
    position = {item_id: i for i, item_id in enumerate(item_ids)}
    usable = [
        (position[r.item_id], r)
        for r in rows
        if r.item_id in position
        and (digests is None or digests[position[r.item_id]] == r.text_sha256)
        # A vector whose bytes disagree with its dim is damaged, not trusted.
        and len(r.vector) == r.dim * _BYTES.itemsize
    ]
    if not usable:
        return None
    dim, _ = Counter(r.dim for _, r in usable).most_common(1)[0]
    out = np.full((len(item_ids), dim), np.nan, dtype=np.float32)
    kept = 0
    for i, r in usable:
        if r.dim == dim:
            out[i] = np.frombuffer(r.vector, dtype=_BYTES)
            kept += 1
    if kept < len(usable):
        log.warning(
            "stored vectors of another size left out",
            extra={"key": key, "dim": dim, "left_out": len(usable) - kept},
        )
    log.info(
        "stored vectors loaded",
        extra={"key": key, "items": len(item_ids), "stored": kept},
    )
    return out


def save_vectors(
    session: Session,
    key: str,
    item_ids: Sequence[str],
    digests: Sequence[str],
    vectors: np.ndarray,
    *,
    now: datetime | None = None,
) -> int:
    """Store one vector per item (item ids unique) under `key`, replacing what
    the item had there. The caller commits. Returns the number of rows written."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or not (len(item_ids) == len(digests) == len(vectors)):
        raise ValueError(
            f"{len(item_ids)} items, {len(digests)} digests and vectors of shape "
            f"{vectors.shape} do not line up"
        )
    if len(set(item_ids)) != len(item_ids):
        # PostgreSQL refuses one upsert touching a row twice; say which caller.
        raise ValueError("an item appears twice among the vectors to save")
    if not len(item_ids):
        return 0
    now = now or datetime.now(UTC)
    rows = [
        {
            "embedder_key": key,
            "item_id": item_id,
            "text_sha256": digest,
            "dim": int(vectors.shape[1]),
            "vector": _as_bytes(vector),
            "created_at": now,
        }
        for item_id, digest, vector in zip(item_ids, digests, vectors, strict=True)
    ]
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    for start in range(0, len(rows), _CHUNK):
        statement = module.insert(ItemEmbedding)
        statement = statement.on_conflict_do_update(
            index_elements=["embedder_key", "item_id"],
            set_={
                name: statement.excluded[name]
                for name in ("text_sha256", "dim", "vector", "created_at")
            },
        )
        session.execute(statement, rows[start : start + _CHUNK])
    log.info(
        "vectors stored",
        extra={"key": key, "items": len(rows), "dim": int(vectors.shape[1])},
    )
    return len(rows)


def dimensions_other_than(
    session: Session, key: str, dim: int, except_items: Collection[str]
) -> set[int]:
    """Sizes of the vectors stored under `key` that are not `dim`, among items
    outside `except_items` (those about to be replaced)."""
    rows = session.execute(
        select(ItemEmbedding.item_id, ItemEmbedding.dim).where(
            ItemEmbedding.embedder_key == key, ItemEmbedding.dim != dim
        )
    ).all()
    return {r.dim for r in rows if r.item_id not in except_items}


def _as_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=_BYTES).tobytes()
