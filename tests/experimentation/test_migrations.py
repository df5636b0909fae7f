"""Migrations on an empty database of each kind: up, down one step, up again,
and no difference left between the models and the migrated schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect

from experimentation.db import alembic_config, make_engine, migrate
from experimentation.models import Base
from tests.conftest import POSTGRES_ADMIN


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own, with no tables, so that downgrading it cannot
    disturb the session-wide test database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    name = f"splitrec_migrations_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    engine = create_engine(f"postgresql+psycopg://{base}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(engine: Engine, command_name: str, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, command_name)(config, revision)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_models_match_the_migrated_schema(empty_engine: Engine) -> None:
    migrate(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []


def test_item_embeddings_migration_downgrades_and_upgrades(
    empty_engine: Engine,
) -> None:
    migrate(empty_engine)
    assert "item_embeddings" in _tables(empty_engine)
    columns = {c["name"] for c in inspect(empty_engine).get_columns("item_embeddings")}
    assert columns == {
        "embedder_key",
        "item_id",
        "text_sha256",
        "dim",
        "vector",
        "created_at",
    }
    primary_key = inspect(empty_engine).get_pk_constraint("item_embeddings")
    assert primary_key["constrained_columns"] == ["embedder_key", "item_id"]

    _run(empty_engine, "downgrade", "0004")
    tables = _tables(empty_engine)
    assert "item_embeddings" not in tables
    assert {"items", "events", "experiments"} <= tables

    _run(empty_engine, "upgrade", "head")
    assert "item_embeddings" in _tables(empty_engine)
