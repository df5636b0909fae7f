"""The `splitrec` command."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from analysis.choices import analysis_settings
from analysis.cli import power
from analysis.render import render_text
from analysis.report import build_report, report_to_dict
from experimentation import accounts, audit, experiments, importers
from experimentation.db import engine_for, migrate, session_scope
from experimentation.errors import SplitrecError
from experimentation.settings import get_settings
from experimentation.spec import ExperimentSpec
from recommenders.cli import evaluate
from web import logs
from web.errors import describe_validation
from web.state import utc_now

log = logging.getLogger(__name__)


def _engine() -> Any:
    engine = engine_for(get_settings().database_url)
    migrate(engine)
    return engine


class _Group(click.Group):
    """Turns the product's own errors into a clear message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SplitrecError as error:
            raise click.ClickException(str(error)) from error
        except ValidationError as error:
            raise click.ClickException(
                describe_validation(list(error.errors()))
            ) from error


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """splitrec: A/B experiments for recommender systems."""
    logs.configure(logging.DEBUG if verbose else logging.INFO)


@main.command()
def migrate_db() -> None:
    """Bring the database to the latest schema."""
    _engine()
    click.echo("database at the latest schema")


main.add_command(migrate_db, name="migrate")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True)
@click.option(
    "--event-writer/--no-event-writer",
    default=True,
    show_default=True,
    help="Store queued events in each server process (off when separate "
    "`splitrec worker` processes do it).",
)
def serve(host: str, port: int, workers: int, event_writer: bool) -> None:
    """Serve the API and the web pages."""
    import uvicorn

    _engine()
    # Each server process reads its settings from the environment.
    os.environ["SPLITREC_START_EVENT_WRITER"] = "true" if event_writer else "false"
    uvicorn.run("web.asgi:app", host=host, port=port, workers=workers, log_level="info")


@main.command()
def worker() -> None:
    """Store queued events from the Redis Stream until stopped (needs REDIS_URL)."""
    from experimentation.cache import make_cache
    from experimentation.ingest import EventWriter, RedisStreamQueue

    settings = get_settings()
    if not settings.redis_url:
        raise click.ClickException(
            "splitrec worker reads the Redis Stream: set REDIS_URL (without it, "
            "each server process stores its own events)"
        )
    cache = make_cache(
        settings.redis_url, settings.cache_ttl_seconds, settings.redis_timeout_seconds
    )

    def invalidate(users: set[str]) -> None:
        for user_id in users:
            cache.invalidate_user(user_id)

    writer = EventWriter(
        _engine(),
        RedisStreamQueue(
            settings.redis_url,
            stream=settings.event_stream,
            claim_idle_seconds=settings.event_claim_idle_seconds,
        ),
        invalidate,
    )
    signal.signal(signal.SIGTERM, lambda *_: writer.stop())
    try:
        writer.run()
    except KeyboardInterrupt:
        writer.stop()


@main.command()
@click.option(
    "--every",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Seconds between refreshes; without it, refresh once and exit.",
)
def refresh(every: float | None) -> None:
    """Bring running experiments' stored per-user values up to date.

    Reports do this themselves, but then the first report of a large
    experiment reads every event; refreshing on a schedule leaves each report
    only what arrived since.
    """
    from datetime import timedelta

    from analysis.settings import AnalysisSettings
    from analysis.user_values import refresh_running

    lookback = timedelta(days=AnalysisSettings().cuped_lookback_days)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    while True:
        try:
            with session_scope(_engine()) as session:
                count = refresh_running(session, now=utc_now(), lookback=lookback)
        except SQLAlchemyError:
            if every is None:
                raise
            # A database outage must not end a scheduled job: try again later.
            log.exception("refresh failed; retrying in %.0f s", every)
        else:
            log.info("stored values refreshed", extra={"experiments": count})
            if every is None:
                click.echo(f"refreshed {count} running experiment(s)")
        if every is None or stopping.wait(every):
            return


@main.group(name="import")
def import_group() -> None:
    """Import data: MovieLens 100K, or your own items and events."""


@import_group.command(name="movielens")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--history-only",
    is_flag=True,
    help="Leave out each user's last 20% of ratings (the demo replays them).",
)
def import_movielens(path: Path, history_only: bool) -> None:
    """Import MovieLens 100K from PATH (directory or ml-100k.zip)."""
    with session_scope(_engine()) as session:
        result = importers.import_movielens(
            session, path, now=utc_now(), history_only=history_only, progress=True
        )
    click.echo(
        f"items {result.items:,}, users {result.users:,}, events {result.events:,} "
        f"stored; {result.skipped:,} already there"
    )


@import_group.command(name="items")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_items(file: Path) -> None:
    """Import catalogue items from a CSV or JSONL FILE."""
    with session_scope(_engine()) as session:
        result = importers.import_items(session, file)
    message = f"items {result.items:,} stored; {result.skipped:,} already there"
    if result.image_embeddings:
        message += f"; image vectors {result.image_embeddings:,} stored"
    click.echo(message)


@import_group.command(name="events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_events(file: Path) -> None:
    """Import events from a CSV or JSONL FILE."""
    with session_scope(_engine()) as session:
        result = importers.import_events(session, file, now=utc_now())
    click.echo(f"events {result.events:,} stored; {result.skipped:,} already there")


@main.group(name="experiment")
def experiment_group() -> None:
    """Create, start, stop and list experiments."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key written twice instead of keeping the last."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    keys = [loader.construct_object(key) for key, _ in node.value]
    repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
    if repeated:
        raise yaml.constructor.ConstructorError(
            None, None, f"key {repeated[0]!r} is written twice", node.start_mark
        )
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping
)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"key {repeated[0]!r} is written twice")
    return dict(pairs)


def _read_spec(file: Path) -> Any:
    """The definition in FILE; a key written twice is an error, not a choice."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{file.name} is not UTF-8 text") from error
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            return yaml.load(text, Loader=_UniqueKeyLoader)
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except (ValueError, yaml.YAMLError) as error:
        raise click.ClickException(
            f"{file.name} is not valid JSON or YAML: {error}"
        ) from error


@experiment_group.command(name="create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def experiment_create(file: Path) -> None:
    """Create an experiment from a JSON or YAML FILE."""
    spec = ExperimentSpec.model_validate(_read_spec(file))
    now = utc_now()
    with session_scope(_engine()) as session:
        experiment = experiments.create_experiment(session, spec=spec, now=now)
        audit.record(
            session, actor="command line", action="create", target=spec.key, now=now
        )
        click.echo(f"created {experiment.key} (draft)")


@experiment_group.command(name="start")
@click.argument("key")
def experiment_start(key: str) -> None:
    now = utc_now()
    with session_scope(_engine()) as session:
        experiments.start_experiment(session, key=key, now=now)
        audit.record(session, actor="command line", action="start", target=key, now=now)
    click.echo(f"started {key}")


@experiment_group.command(name="stop")
@click.argument("key")
def experiment_stop(key: str) -> None:
    now = utc_now()
    with session_scope(_engine()) as session:
        experiments.stop_experiment(session, key=key, now=now)
        audit.record(session, actor="command line", action="stop", target=key, now=now)
    click.echo(f"stopped {key}")


@experiment_group.command(name="list")
def experiment_list() -> None:
    with session_scope(_engine()) as session:
        for e in experiments.list_experiments(session):
            variants = ", ".join(f"{v.key}={v.weight:.0%}" for v in e.variants)
            click.echo(f"{e.key}\t{e.status}\t{variants}")


@main.group(name="user")
def user_group() -> None:
    """People who sign in to the web app."""


@user_group.command(name="create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(accounts.ROLES),
    default="viewer",
    show_default=True,
    help="admin for the first account.",
)
@click.option("--name", default="", help="Display name.")
@click.password_option(
    "--password",
    envvar="SPLITREC_PASSWORD",
    help="Asked for when not given; SPLITREC_PASSWORD also works.",
)
def user_create(email: str, role: str, name: str, password: str) -> None:
    """Create an account that signs in with EMAIL."""
    now = utc_now()
    with session_scope(_engine()) as session:
        account = accounts.create_account(
            session, email=email, password=password, role=role, name=name, now=now
        )
        audit.record(
            session,
            actor="command line",
            action="create_user",
            target=account.email,
            now=now,
            detail={"role": role},
        )
    click.echo(f"created {role} {email.strip().lower()}")


@user_group.command(name="password")
@click.argument("email")
@click.password_option(
    "--password",
    envvar="SPLITREC_PASSWORD",
    help="Asked for when not given; SPLITREC_PASSWORD also works.",
)
def user_password(email: str, password: str) -> None:
    """Set a new password for EMAIL; their browser sessions end."""
    now = utc_now()
    with session_scope(_engine()) as session:
        account = accounts.find_account(session, email=email)
        accounts.set_password(session, account=account, password=password)
        audit.record(
            session,
            actor="command line",
            action="set_password",
            target=account.email,
            now=now,
        )
    click.echo(f"password set for {account.email}")


@main.group(name="key")
def key_group() -> None:
    """API keys for apps and analysts."""


@key_group.command(name="create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(accounts.SCOPES),
    default="app",
    show_default=True,
    help="app: recommendations and events; analyst: read results; "
    "editor: manage experiments; admin: everything.",
)
def key_create(name: str, scope: str) -> None:
    """Create a key called NAME; its secret is printed once, never stored."""
    now = utc_now()
    with session_scope(_engine()) as session:
        secret, key = accounts.create_key(session, name=name, scope=scope, now=now)
        audit.record(
            session,
            actor="command line",
            action="create_key",
            target=f"key {key.name} ({key.prefix}…)",
            now=now,
            detail={"scope": scope},
        )
    click.echo(secret)


@main.command()
@click.argument("key")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--correction",
    type=click.Choice(["holm", "benjamini_hochberg"]),
    default="holm",
    show_default=True,
)
@click.option("--family", help="Metrics in the correction family, by comma.")
@click.option("--primary", help="The metric a ship decision rests on.")
@click.option("--winsorize", type=float, help="Cap revenue and duration, e.g. 0.99.")
@click.option("--cuped/--no-cuped", default=True, show_default=True)
def report(
    key: str,
    fmt: str,
    correction: str,
    family: str | None,
    primary: str | None,
    winsorize: float | None,
    cuped: bool,
) -> None:
    """Print the result report of experiment KEY."""
    try:
        settings = analysis_settings(
            correction=correction,
            family=family,
            primary=primary,
            winsorize=winsorize,
            cuped=cuped,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    with session_scope(_engine()) as session:
        built = build_report(session, key=key, now=utc_now(), settings=settings)
    if fmt == "json":
        click.echo(json.dumps(report_to_dict(built), indent=2))
    else:
        click.echo(render_text(built))


@main.command()
@click.option("--data", type=click.Path(path_type=Path), help="MovieLens 100K.")
@click.option("--serve/--no-serve", default=True, help="Serve the web app after.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def demo(data: Path | None, serve: bool, host: str, port: int) -> None:
    """Import MovieLens, run the flagship experiment on simulated traffic, report."""
    from web.demo import FLAGSHIP, find_data, print_report, run_demo

    settings = get_settings()
    built = run_demo(settings, find_data(data, settings))
    print_report(built)
    if serve:
        import uvicorn

        click.echo(
            f"\nserving on http://{host}:{port}/experiments/{FLAGSHIP['id']} "
            "(Ctrl-C stops)"
        )
        uvicorn.run("web.asgi:app", host=host, port=port, log_level="warning")


# Commands that live with their packages: the offline evaluator with the
# recommenders, the power calculator with the statistics.
main.add_command(evaluate)
main.add_command(power)


if __name__ == "__main__":
    main()
