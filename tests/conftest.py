"""Fixtures: every database test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from experimentation import accounts
from experimentation.db import engine_for, migrate
from experimentation.models import Base
from experimentation.settings import Settings
from web.app import create_app

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MOVIELENS = Path(os.environ.get("SPLITREC_DATA", SHARED / "data" / "ml-100k"))
POSTGRES_ADMIN = os.environ.get(
    "SPLITREC_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SPLITREC_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def movielens_path() -> Path:
    if not (MOVIELENS / "u.data").exists():
        pytest.fail(f"MovieLens 100K not found at {MOVIELENS}; set SPLITREC_DATA")
    return MOVIELENS


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        yield url
        engine_for(url).dispose()
        return
    # A database of its own per test run, so that parallel runs never collide.
    name = f"splitrec_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN} is not reachable: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    url = f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    yield url
    engine_for(url).dispose()
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated(database_url: str) -> Engine:
    engine = engine_for(database_url)
    migrate(engine)
    return engine


@pytest.fixture
def engine(migrated: Engine) -> Iterator[Engine]:
    """A migrated engine whose tables are emptied after the test."""
    yield migrated
    with migrated.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Two configurations: embedded (SQLite, in-process cache) and production
    (PostgreSQL, Redis cache under a prefix of this test's own)."""
    production = database_url.startswith("postgresql")
    return Settings.model_validate(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL if production else None,
            "cache_prefix": f"test-{uuid.uuid4().hex}",
            # Stored within the request, so that a test reads what it just
            # sent; tests/web/test_event_queue.py covers the queued path.
            "event_queue": "sync",
            "model_refresh_seconds": 0,
        }
    )


def make_key(engine: Engine, scope: str, name: str | None = None) -> str:
    """A fresh API key of this scope; returns the secret."""
    with Session(engine) as session:
        secret, _ = accounts.create_key(
            session,
            name=name or f"test {scope}",
            scope=scope,
            now=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.commit()
    return secret


@pytest.fixture
def anonymous_client(
    engine: Engine, settings: Settings, clock: FakeClock
) -> Iterator[TestClient]:
    """A client without an API key or a signed-in session."""
    app = create_app(settings, clock=clock, run_migrations=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(engine: Engine, anonymous_client: TestClient) -> TestClient:
    """A client whose requests carry an admin API key (every scope)."""
    key = make_key(engine, "admin")
    anonymous_client.headers["Authorization"] = f"Bearer {key}"
    return anonymous_client
