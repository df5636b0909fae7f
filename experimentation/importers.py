"""Imports: MovieLens 100K, and a user's own items and events (CSV or JSONL).

Importing the same data twice adds nothing: items and users are keyed by their
ids, events by event_id.

MovieLens mapping: each rating becomes one event of type "rating" with the
stars in `value`, at the rating's real time, event_id "ml-<user>-<item>".
Ratings of 4 or 5 weigh 1.0 in a user's profile; lower ratings weigh 0 but
still mark the item as seen, so it is never recommended back (see
recommenders/weights.py). Genres become the item's categories (the first one
is `category`, all in attributes["genres"]); the year in the title becomes
`published_at` (1 January of that year).

An item may carry an `image_embedding` (a list of numbers; in a CSV cell, a JSON
array). It is stored apart from the item, in item_embeddings under the key
"image", and becomes `Catalog.image_embeddings`. Unlike the item's own row, an
item's image vector is replaced when a later import gives one, so that images
can be added to a catalogue already imported.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from tqdm import tqdm

from experimentation import movielens
from experimentation.db import refresh_statistics
from experimentation.embedding_store import (
    IMAGE_KEY,
    MAX_DIMENSIONS,
    dimensions_other_than,
    save_vectors,
    vector_digest,
)
from experimentation.errors import InvalidInput
from experimentation.events import (
    NO_NUL,
    EventIn,
    Identifier,
    check_clock,
    event_row,
    insert_rows,
)
from experimentation.models import Item, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    items: int = 0
    users: int = 0
    events: int = 0
    skipped: int = 0
    """Rows already stored (same id), left as they were."""
    image_embeddings: int = 0
    """Image vectors stored (new, or replacing an item's earlier one)."""


def _insert_ignore(
    session: Session, model: type[Any], rows: list[dict[str, Any]], key: str
) -> int:
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stored = 0
    for start in range(0, len(rows), 2_000):
        statement = (
            module.insert(model)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(model.id)
        )
        stored += len(session.execute(statement, rows[start : start + 2_000]).all())
    return stored


def import_movielens(
    session: Session,
    path: str | Path,
    *,
    now: datetime,
    history_only: bool = False,
    progress: bool = False,
) -> ImportResult:
    """Items, users and ratings; with history_only, each user's last 20% of
    ratings (the protocol's per-user temporal test part) is left out."""
    data = movielens.load(path)
    items = [
        {
            "item_id": m.item_id,
            "title": m.title,
            "description": "",
            "category": m.genres[0] if m.genres else None,
            "attributes": {"genres": m.genres, "year": m.year},
            "published_at": datetime(m.year, 1, 1, tzinfo=UTC) if m.year else None,
        }
        for m in data.movies
    ]
    users = [
        {
            "user_id": u.user_id,
            "attributes": {
                "age": u.age,
                "gender": u.gender,
                "occupation": u.occupation,
                "zip_code": u.zip_code,
            },
            "created_at": now,
        }
        for u in data.users
    ]
    stored_items = _insert_ignore(session, Item, items, "item_id")
    stored_users = _insert_ignore(session, User, users, "user_id")
    ratings = data.ratings
    keep = (
        movielens.temporal_split(ratings)[0]
        if history_only
        else np.ones(len(ratings), bool)
    )
    rows = list(_rating_rows(ratings, keep, now))
    stored_events = 0
    chunk = 10_000
    for start in tqdm(
        range(0, len(rows), chunk),
        desc="import ratings",
        unit="chunk",
        disable=not progress,
    ):
        stored_events += insert_rows(session, rows[start : start + chunk])
    refresh_statistics(session)
    result = ImportResult(
        items=stored_items,
        users=stored_users,
        events=stored_events,
        skipped=len(items)
        + len(users)
        + len(rows)
        - stored_items
        - stored_users
        - stored_events,
    )
    log.info("movielens imported", extra=result.__dict__)
    return result


def _rating_rows(
    ratings: movielens.Ratings, keep: np.ndarray, now: datetime
) -> Iterator[dict[str, Any]]:
    for user, item, stars, ts in zip(
        ratings.user_id[keep].tolist(),
        ratings.item_id[keep].tolist(),
        ratings.rating[keep].tolist(),
        ratings.timestamp[keep].tolist(),
        strict=True,
    ):
        yield {
            "event_id": f"ml-{user}-{item}",
            "user_id": str(user),
            "item_id": str(item),
            "type": "rating",
            "value": float(stars),
            "dwell_seconds": None,
            "session_id": None,
            "request_id": None,
            "query": None,
            "occurred_at": datetime.fromtimestamp(ts, tz=UTC),
            "received_at": now,
        }


# Numbers as numbers (true and "0.5" refused), finite and bounded: a NaN or
# infinity would spread through every score the vector takes part in, and a
# value past float32's range (1e39) is stored as infinity.
FiniteNumber = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-1e6, le=1e6)]


class ItemIn(BaseModel):
    """One catalogue row; columns beyond these go to attributes."""

    model_config = ConfigDict(extra="allow")

    item_id: Identifier
    title: str = Field(default="", max_length=512, pattern=NO_NUL)
    description: str = Field(default="", pattern=NO_NUL)
    category: str | None = Field(default=None, max_length=128, pattern=NO_NUL)
    subcategory: str | None = Field(default=None, max_length=128, pattern=NO_NUL)
    brand: str | None = Field(default=None, max_length=128, pattern=NO_NUL)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    rating: float | None = Field(default=None, allow_inf_nan=False)
    published_at: datetime | None = None
    image_embedding: (
        Annotated[list[FiniteNumber], Field(min_length=1, max_length=MAX_DIMENSIONS)]
        | None
    ) = None
    """The item's image vector from the catalogue's own image model."""

    @model_validator(mode="before")
    @classmethod
    def _not_an_event(cls, data: Any) -> Any:
        # Extra columns become attributes, so an events file would otherwise
        # import as a catalogue of one "item" per event.
        if isinstance(data, dict) and _EVENT_ONLY & data.keys():
            fields = ", ".join(sorted(_EVENT_ONLY & data.keys()))
            raise ValueError(
                f"this row has event fields ({fields}): import events with "
                "`splitrec import events`"
            )
        return data


_EVENT_ONLY = frozenset({"event_id", "user_id"})
_CSV_NUMBERS = frozenset({"value", "dwell_seconds"})
# CSV cells holding a list, written as a JSON array.
_CSV_ARRAYS = frozenset({"image_embedding"})


def read_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) from a .csv or .jsonl/.json file."""
    path = Path(path)
    try:
        # utf-8-sig: spreadsheet programs start CSV files with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (byte {error.start} cannot be read)"
        ) from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for number, row in enumerate(reader, start=2):
            record = {k: v for k, v in row.items() if k and v not in ("", None)}
            # CSV has only text; the event schema takes numbers as numbers.
            for name in _CSV_NUMBERS & record.keys():
                try:
                    record[name] = float(record[name])
                except ValueError:
                    raise InvalidInput(
                        f"{path.name} line {number}: {name} is not a number"
                    ) from None
            for name in _CSV_ARRAYS & record.keys():
                try:
                    record[name] = json.loads(record[name])
                except json.JSONDecodeError:
                    raise InvalidInput(
                        f"{path.name} line {number}: {name} is not a JSON array "
                        "of numbers"
                    ) from None
            yield number, record
        return
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        raise InvalidInput(f"{path.name}: use a .csv or .jsonl file")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"{path.name} line {number}: not JSON ({error.msg})"
            ) from error
        except ValueError as error:  # e.g. a number of 5,000 digits
            raise InvalidInput(f"{path.name} line {number}: {error}") from None
        if not isinstance(record, dict):
            raise InvalidInput(f"{path.name} line {number}: expected a JSON object")
        yield number, record


def _validated(path: str | Path, schema: type[BaseModel]) -> list[Any]:
    records = []
    for number, record in read_records(path):
        try:
            records.append(schema.model_validate(record))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            # A check of the whole row has no field to name.
            prefix = f"{where}: " if where else ""
            message = first["msg"].removeprefix("Value error, ")
            raise InvalidInput(
                f"{Path(path).name} line {number}: {prefix}{message}"
            ) from error
    return records


def import_items(session: Session, path: str | Path) -> ImportResult:
    """Validate every row first, so a bad row leaves the catalogue untouched."""
    items: list[ItemIn] = _validated(path, ItemIn)
    images = _image_embeddings(session, Path(path).name, items)
    rows = [
        {
            "item_id": item.item_id,
            "title": item.title,
            "description": item.description,
            "category": item.category,
            "subcategory": item.subcategory,
            "brand": item.brand,
            "price": item.price,
            "rating": item.rating,
            "published_at": _aware(item.published_at),
            "attributes": dict(item.model_extra or {}),
        }
        for item in items
    ]
    stored = _insert_ignore(session, Item, rows, "item_id")
    if images:
        vectors = np.array(list(images.values()), dtype=np.float32)
        save_vectors(
            session,
            IMAGE_KEY,
            list(images),
            [vector_digest(vector) for vector in vectors],
            vectors,
        )
    refresh_statistics(session)
    result = ImportResult(
        items=stored, skipped=len(rows) - stored, image_embeddings=len(images)
    )
    log.info("items imported", extra=result.__dict__)
    return result


def _image_embeddings(
    session: Session, file_name: str, items: list[ItemIn]
) -> dict[str, list[float]]:
    """Image vectors by item id, checked to be of one size, that of any image
    vectors already stored for other items (the model fits one image space)."""
    images: dict[str, list[float]] = {}
    for item in items:
        vector = item.image_embedding
        if vector is None or item.item_id in images:
            continue  # a repeated item keeps its first vector, as it keeps its row
        if images:
            first_id, first = next(iter(images.items()))
            if len(vector) != len(first):
                raise InvalidInput(
                    f"{file_name}: image_embedding of item {item.item_id} has "
                    f"{len(vector)} numbers, that of item {first_id} {len(first)}; "
                    "all in one import must have the same length"
                )
        images[item.item_id] = vector
    if not images:
        return images
    size = len(next(iter(images.values())))
    other_sizes = dimensions_other_than(session, IMAGE_KEY, size, images.keys())
    if other_sizes:
        raise InvalidInput(
            f"{file_name}: image_embedding has {size} numbers; the image "
            "embeddings already stored for other items have "
            f"{', '.join(map(str, sorted(other_sizes)))}"
        )
    return images


def import_events(session: Session, path: str | Path, *, now: datetime) -> ImportResult:
    events: list[EventIn] = _validated(path, EventIn)
    try:
        check_clock(events, now)
    except ValueError as error:
        raise InvalidInput(f"{Path(path).name}: {error}") from error
    rows = [event_row(e, now) for e in events]
    stored = insert_rows(session, rows)
    refresh_statistics(session)
    return ImportResult(events=stored, skipped=len(rows) - stored)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def existing_ids(session: Session, column: Any, ids: Iterable[str]) -> set[str]:
    wanted = list(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            session.scalars(
                select(column).where(column.in_(wanted[start : start + 500]))
            )
        )
    return found
