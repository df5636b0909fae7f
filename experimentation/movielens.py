"""Reader for MovieLens 100K in the GroupLens layout (a directory or ml-100k.zip).

Pure parsing: no database. The importer and the offline evaluator share it.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REQUIRED_FILES = ("u.data", "u.item", "u.user", "u.genre")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


class MovieLensError(ValueError):
    """The path does not hold MovieLens 100K in the GroupLens layout."""


@dataclass(frozen=True)
class Movie:
    item_id: str
    title: str
    year: int | None
    genres: list[str]


@dataclass(frozen=True)
class MovieLensUser:
    user_id: str
    age: int
    gender: str
    occupation: str
    zip_code: str


@dataclass(frozen=True)
class Ratings:
    """All ratings as parallel arrays, in file order."""

    user_id: np.ndarray  # int64
    item_id: np.ndarray  # int64
    rating: np.ndarray  # int8, 1 to 5
    timestamp: np.ndarray  # int64, unix seconds

    def __len__(self) -> int:
        return int(self.user_id.shape[0])


@dataclass(frozen=True)
class MovieLens:
    movies: list[Movie]
    users: list[MovieLensUser]
    ratings: Ratings


def _read_files(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise MovieLensError(f"{path} lacks {', '.join(missing)}")
        return {name: (path / name).read_bytes() for name in REQUIRED_FILES}
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            found = {Path(info.filename).name: info for info in archive.infolist()}
            missing = [name for name in REQUIRED_FILES if name not in found]
            if missing:
                raise MovieLensError(f"{path} lacks {', '.join(missing)}")
            return {name: archive.read(found[name]) for name in REQUIRED_FILES}
    raise MovieLensError(f"{path} is neither a directory nor a zip file")


def load(path: str | Path) -> MovieLens:
    files = _read_files(Path(path))
    genre_names = [
        line.split("|")[0]
        for line in files["u.genre"].decode("latin-1").splitlines()
        if line.strip()
    ]
    movies = [_parse_movie(line, genre_names) for line in _lines(files["u.item"])]
    users = [_parse_user(line) for line in _lines(files["u.user"])]
    try:
        table = np.loadtxt(io.BytesIO(files["u.data"]), dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise MovieLensError(
            f"u.data is not four tab-separated integers: {error}"
        ) from error
    if table.shape[1] != 4:
        raise MovieLensError("u.data must have four columns")
    ratings = Ratings(
        user_id=table[:, 0],
        item_id=table[:, 1],
        rating=table[:, 2].astype(np.int8),
        timestamp=table[:, 3],
    )
    return MovieLens(movies=movies, users=users, ratings=ratings)


def _lines(raw: bytes) -> list[str]:
    return [line for line in raw.decode("latin-1").splitlines() if line.strip()]


def _parse_movie(line: str, genre_names: list[str]) -> Movie:
    fields = line.split("|")
    if len(fields) < 5 + len(genre_names):
        raise MovieLensError(f"u.item line has too few fields: {line[:60]!r}")
    flags = fields[5 : 5 + len(genre_names)]
    title = fields[1].strip()
    match = _YEAR.search(title)
    return Movie(
        item_id=fields[0],
        title=title,
        year=int(match.group(1)) if match else None,
        genres=[
            name for name, flag in zip(genre_names, flags, strict=True) if flag == "1"
        ],
    )


def _parse_user(line: str) -> MovieLensUser:
    fields = line.split("|")
    if len(fields) != 5:
        raise MovieLensError(f"u.user line must have five fields: {line[:60]!r}")
    return MovieLensUser(
        user_id=fields[0],
        age=int(fields[1]),
        gender=fields[2],
        occupation=fields[3],
        zip_code=fields[4],
    )


def temporal_split(
    ratings: Ratings, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) of the per-user temporal split.

    Per user, ratings sorted by (timestamp, item id); the last
    floor(test_fraction * n_u + 0.5) go to test (protocol ml100k-temporal-v1).
    """
    order = np.lexsort((ratings.item_id, ratings.timestamp, ratings.user_id))
    users_sorted = ratings.user_id[order]
    starts = np.flatnonzero(np.r_[True, users_sorted[1:] != users_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(users_sorted)])
    n_test = np.floor(test_fraction * counts + 0.5).astype(np.int64)
    rank_in_user = np.arange(len(users_sorted)) - np.repeat(starts, counts)
    is_test_sorted = rank_in_user >= np.repeat(counts - n_test, counts)
    test = np.zeros(len(ratings), dtype=bool)
    test[order] = is_test_sorted
    return ~test, test
