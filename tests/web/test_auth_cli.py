"""`splitrec user create`, `user password` and `key create`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from experimentation import accounts
from experimentation.models import Account, AuditEntry
from web.cli import main


@pytest.fixture
def runner(
    database_url: str, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> Iterator[CliRunner]:
    from experimentation.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_user_create_first_admin(runner: CliRunner, engine: Engine) -> None:
    result = runner.invoke(
        main,
        ["user", "create", "Boss@Example.org", "--role", "admin"],
        env={"SPLITREC_PASSWORD": "a long password"},
    )
    assert result.exit_code == 0, result.output
    assert "created admin boss@example.org" in result.output
    with Session(engine) as session:
        account = session.scalars(select(Account)).one()
        assert account.role == "admin"
        assert accounts.authenticate(
            session, email="boss@example.org", password="a long password"
        )
        assert session.scalars(select(AuditEntry.action)).all() == ["create_user"]


def test_cli_user_create_short_password_says_why(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["user", "create", "a@example.org", "--password", "short"]
    )
    assert result.exit_code == 1
    assert "password must have at least 10 characters" in result.output


def test_cli_user_password_resets(runner: CliRunner, engine: Engine) -> None:
    env = {"SPLITREC_PASSWORD": "first password"}
    runner.invoke(main, ["user", "create", "a@example.org"], env=env)
    result = runner.invoke(
        main, ["user", "password", "a@example.org"], env={"SPLITREC_PASSWORD": "x" * 12}
    )
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        assert accounts.authenticate(session, email="a@example.org", password="x" * 12)
    missing = runner.invoke(main, ["user", "password", "no@example.org"], env=env)
    assert missing.exit_code == 1
    assert "no account for no@example.org" in missing.output


def test_cli_key_create_prints_secret_once(runner: CliRunner, engine: Engine) -> None:
    result = runner.invoke(main, ["key", "create", "ios app", "--scope", "analyst"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("sr_")
    with Session(engine) as session:
        key = accounts.find_key(session, secret=secret)
        assert key is not None and key.scope == "analyst"
