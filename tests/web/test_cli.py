from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from experimentation.db import engine_for
from experimentation.models import AuditEntry
from tests.utils.factories import flagship_spec
from web.cli import main


@pytest.fixture
def runner(
    database_url: str, monkeypatch: pytest.MonkeyPatch, engine: object
) -> CliRunner:
    from experimentation.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    engine_for(get_settings().database_url)
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_experiment_from_yaml_start_report_stop(
    runner: CliRunner, tmp_path: Path
) -> None:
    spec_file = tmp_path / "flagship.yaml"
    spec_file.write_text(yaml.safe_dump(flagship_spec()))
    created = runner.invoke(main, ["experiment", "create", str(spec_file)])
    assert created.exit_code == 0, created.output
    assert "created rec-algorithm-v2 (draft)" in created.output
    assert (
        runner.invoke(main, ["experiment", "start", "rec-algorithm-v2"]).exit_code == 0
    )
    listed = runner.invoke(main, ["experiment", "list"])
    assert "rec-algorithm-v2\trunning\tcontrol=50%, treatment=50%" in listed.output
    report = runner.invoke(main, ["report", "rec-algorithm-v2", "--format", "json"])
    assert report.exit_code == 0, report.output
    body = json.loads(report.stdout)
    assert body["experiment"] == "rec-algorithm-v2"
    assert body["result"] == "interim"
    assert set(body["metrics"]) >= {"conversion", "revenue_per_user"}
    text = runner.invoke(main, ["report", "rec-algorithm-v2"])
    assert "not yet: 0 of 10,000 users, day 1 of 7" in text.output
    assert (
        runner.invoke(main, ["experiment", "stop", "rec-algorithm-v2"]).exit_code == 0
    )


def test_cli_experiment_from_json_invalid_says_why(
    runner: CliRunner, tmp_path: Path
) -> None:
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps(flagship_spec(metrics=["ctr"])))
    result = runner.invoke(main, ["experiment", "create", str(spec_file)])
    assert result.exit_code == 1
    assert "unknown metric 'ctr'" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = runner.invoke(main, ["experiment", "create", str(broken)])
    assert result.exit_code == 1
    assert "is not valid JSON or YAML" in result.output


def test_cli_unknown_experiment_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["experiment", "start", "nope"])
    assert result.exit_code == 1
    assert "experiment 'nope' does not exist" in result.output


def test_cli_import_events_twice_adds_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps({"event_id": "a", "user_id": "u", "type": "search", "query": "x"})
        + "\n"
    )
    first = runner.invoke(main, ["import", "events", str(events)])
    assert "events 1 stored; 0 already there" in first.output
    second = runner.invoke(main, ["import", "events", str(events)])
    assert "events 0 stored; 1 already there" in second.output


def test_cli_power_and_evaluate_registered() -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["power", "--baseline", "0.1", "--mde", "0.05", "--allocation", "90/10"]
    )
    assert result.exit_code == 0, result.output
    assert "treatment:" in result.output
    assert runner.invoke(main, ["evaluate", "--help"]).exit_code == 0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("dup.json", '{"id": "a", "id": "b"}'),
        ("dup.yaml", "id: a\nid: b\n"),
    ],
)
def test_cli_experiment_file_with_a_key_twice_refused(
    runner: CliRunner, tmp_path: Path, name: str, content: str
) -> None:
    """Guards against the later of two definitions silently winning."""
    spec_file = tmp_path / name
    spec_file.write_text(content)
    result = runner.invoke(main, ["experiment", "create", str(spec_file)])
    assert result.exit_code == 1
    assert "key 'id' is written twice" in result.output


def test_cli_experiment_not_utf8_refused(runner: CliRunner, tmp_path: Path) -> None:
    spec_file = tmp_path / "latin.json"
    spec_file.write_bytes(b'{"id": "caf\xe9"}')
    result = runner.invoke(main, ["experiment", "create", str(spec_file)])
    assert result.exit_code == 1
    assert "is not UTF-8 text" in result.output


def test_cli_experiment_actions_audited(
    runner: CliRunner, tmp_path: Path, engine: Engine
) -> None:
    spec_file = tmp_path / "flagship.json"
    spec_file.write_text(json.dumps(flagship_spec()))
    runner.invoke(main, ["experiment", "create", str(spec_file)])
    runner.invoke(main, ["experiment", "start", "rec-algorithm-v2"])
    runner.invoke(main, ["experiment", "stop", "rec-algorithm-v2"])
    with Session(engine) as session:
        actions = list(
            session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        )
    assert actions == ["create", "start", "stop"]


def test_cli_refresh_stores_running_experiments_values(
    runner: CliRunner, tmp_path: Path, engine: Engine
) -> None:
    from experimentation.models import UserValuesState

    spec_file = tmp_path / "flagship.yaml"
    spec_file.write_text(yaml.safe_dump(flagship_spec()))
    assert runner.invoke(main, ["experiment", "create", str(spec_file)]).exit_code == 0
    drafts_only = runner.invoke(main, ["refresh"])
    assert drafts_only.exit_code == 0, drafts_only.output
    assert "refreshed 0 running experiment(s)" in drafts_only.output
    runner.invoke(main, ["experiment", "start", "rec-algorithm-v2"])
    once = runner.invoke(main, ["refresh"])
    assert once.exit_code == 0, once.output
    assert "refreshed 1 running experiment(s)" in once.output
    with Session(engine) as session:
        assert len(session.scalars(select(UserValuesState)).all()) == 1
    assert runner.invoke(main, ["refresh", "--every", "0"]).exit_code == 2
