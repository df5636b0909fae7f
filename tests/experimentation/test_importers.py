from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from experimentation.errors import InvalidInput
from experimentation.importers import import_events, import_items, import_movielens
from experimentation.models import Event, Item, User

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.slow
def test_import_movielens_everything_then_nothing_twice(
    session: Session, movielens_path: Path
) -> None:
    first = import_movielens(session, movielens_path, now=NOW)
    assert (first.items, first.users, first.events) == (1682, 943, 100_000)
    again = import_movielens(session, movielens_path, now=NOW)
    assert (again.items, again.users, again.events) == (0, 0, 0)
    assert again.skipped == 1682 + 943 + 100_000
    assert _count(session, Event) == 100_000
    toy_story = session.scalars(select(Item).where(Item.item_id == "1")).one()
    assert toy_story.title == "Toy Story (1995)"
    assert toy_story.attributes["genres"] == ["Animation", "Children's", "Comedy"]
    assert toy_story.published_at == datetime(1995, 1, 1, tzinfo=UTC)
    user = session.scalars(select(User).where(User.user_id == "1")).one()
    assert user.attributes == {
        "age": 24,
        "gender": "M",
        "occupation": "technician",
        "zip_code": "85711",
    }
    rating = session.scalars(select(Event).where(Event.event_id == "ml-196-242")).one()
    assert (rating.type, rating.value) == ("rating", 3.0)
    assert rating.occurred_at == datetime.fromtimestamp(881250949, tz=UTC)


def test_import_movielens_history_only_from_zip(
    session: Session, movielens_path: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("u.data", "u.item", "u.user", "u.genre"):
            zf.write(movielens_path / name, f"ml-100k/{name}")
    result = import_movielens(session, archive, now=NOW, history_only=True)
    assert result.events == 80_000


def test_import_movielens_not_movielens_refused(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"lacks u\.data"):
        import_movielens(session, tmp_path, now=NOW)


def test_import_items_csv_and_jsonl_idempotent(
    session: Session, tmp_path: Path
) -> None:
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(
        "item_id,title,category,price,published_at,colour\n"
        "a1,Red shoes,shoes,49.5,2026-10-01T00:00:00Z,red\n"
        "a2,Blue hat,hats,,,\n"
    )
    result = import_items(session, csv_file)
    assert (result.items, result.skipped) == (2, 0)
    assert import_items(session, csv_file).items == 0
    shoes = session.scalars(select(Item).where(Item.item_id == "a1")).one()
    assert shoes.price == 49.5
    assert shoes.attributes == {"colour": "red"}
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(json.dumps({"item_id": "a3", "title": "Green scarf"}) + "\n")
    assert import_items(session, jsonl).items == 1
    assert _count(session, Item) == 3


def test_import_items_bad_row_stores_nothing(session: Session, tmp_path: Path) -> None:
    csv_file = tmp_path / "items.csv"
    csv_file.write_text("item_id,title,price\nb1,Fine,3\nb2,Broken,-1\n")
    with pytest.raises(InvalidInput, match=r"items.csv line 3: price"):
        import_items(session, csv_file)
    assert _count(session, Item) == 0


def test_import_items_id_with_a_bidi_control_refused(
    session: Session, tmp_path: Path
) -> None:
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text('{"item_id": "ok"}\n{"item_id": "evil\\u202egnp"}\n')
    with pytest.raises(InvalidInput, match=r"items.jsonl line 2: item_id"):
        import_items(session, jsonl)
    assert _count(session, Item) == 0


def test_import_items_file_not_utf8_or_with_huge_numbers_refused(
    session: Session, tmp_path: Path
) -> None:
    latin = tmp_path / "items.csv"
    latin.write_bytes("item_id,title\ni1,Café\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match=r"items.csv is not UTF-8 text"):
        import_items(session, latin)
    digits = tmp_path / "items.jsonl"
    digits.write_text('{"item_id": "i1", "price": ' + "9" * 5000 + "}\n")
    with pytest.raises(InvalidInput, match=r"items.jsonl line 1: "):
        import_items(session, digits)
    nul = tmp_path / "nul.jsonl"
    nul.write_text('{"item_id": "i1", "title": "a\\u0000b"}\n')
    with pytest.raises(InvalidInput, match=r"nul.jsonl line 1: title"):
        import_items(session, nul)
    assert _count(session, Item) == 0


def test_import_items_csv_with_a_byte_order_mark(
    session: Session, tmp_path: Path
) -> None:
    bom = tmp_path / "items.csv"
    bom.write_bytes(b"\xef\xbb\xbfitem_id,title\ni1,First\n")
    assert import_items(session, bom).items == 1


def test_import_items_refuses_an_events_file(session: Session, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("event_id,user_id,item_id,type\ne1,u1,i1,click\n")
    expected = (
        r"events.csv line 2: this row has event fields \(event_id, user_id\): "
        r"import events with `splitrec import events`$"
    )
    with pytest.raises(InvalidInput, match=expected):
        import_items(session, events)
    assert _count(session, Item) == 0


def test_import_events_jsonl_and_csv(session: Session, tmp_path: Path) -> None:
    jsonl = tmp_path / "events.jsonl"
    rows = [
        {"event_id": "x1", "user_id": "u", "type": "click", "item_id": "i"},
        {
            "event_id": "x2",
            "user_id": "u",
            "type": "purchase",
            "item_id": "i",
            "value": 2,
        },
    ]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert import_events(session, jsonl, now=NOW).events == 2
    assert import_events(session, jsonl, now=NOW).events == 0
    csv_file = tmp_path / "events.csv"
    csv_file.write_text(
        "event_id,user_id,type,item_id,dwell_seconds,occurred_at\n"
        "x3,u,view,i,12.5,2026-10-30T10:00:00+00:00\n"
    )
    assert import_events(session, csv_file, now=NOW).events == 1
    view = session.scalars(select(Event).where(Event.event_id == "x3")).one()
    assert view.dwell_seconds == 12.5
    assert view.occurred_at == datetime(2026, 10, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json}\n", "line 1: not JSON"),
        ("[1, 2]\n", "line 1: expected a JSON object"),
        ('{"event_id": "e", "user_id": "u", "type": "fly"}\n', "line 1: type"),
    ],
)
def test_import_events_bad_file_refused(
    session: Session, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        import_events(session, path, now=NOW)
    assert _count(session, Event) == 0


def test_import_unknown_suffix_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "events.xml"
    path.write_text("<events/>")
    with pytest.raises(InvalidInput, match=r"use a \.csv or \.jsonl file"):
        import_events(session, path, now=NOW)


def test_import_events_future_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(
            {
                "event_id": "f1",
                "user_id": "u",
                "type": "search",
                "query": "x",
                "occurred_at": "2090-01-01T00:00:00Z",
            }
        )
        + "\n"
    )
    with pytest.raises(InvalidInput, match="more than a day in the future"):
        import_events(session, path, now=NOW)
    assert _count(session, Event) == 0
