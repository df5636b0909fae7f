"""`splitrec worker` as its own process, reading the Redis Stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.events import EventIn
from experimentation.ingest import RedisStreamQueue
from experimentation.models import Event
from tests.conftest import REDIS_URL


def _stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def test_worker_process_stores_stream_and_stops_on_sigterm(
    engine: Engine, database_url: str
) -> None:
    stream = f"test:events:{uuid.uuid4().hex}"
    events_queue = RedisStreamQueue(REDIS_URL, stream=stream)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for batch in range(5):
        events_queue.submit(
            [
                EventIn(
                    event_id=f"w{batch}-{n}",
                    user_id="u",
                    type="view",
                    item_id="i",
                    dwell_seconds=9,
                )
                for n in range(100)
            ],
            now,
        )
    env = os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SPLITREC_EVENT_STREAM": stream,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while _stored(engine) < 500 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _stored(engine) == 500
        assert events_queue.pending() == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=10)
        events_queue.client.delete(stream)
        events_queue.client.close()
    assert worker.returncode == 0, stderr.decode()[-2000:]


def test_worker_killed_mid_stream_loses_and_doubles_nothing(
    engine: Engine, database_url: str
) -> None:
    """SIGKILL a worker while it writes; a second worker claims what the first
    took but never acknowledged, and every event is stored exactly once."""
    stream = f"test:events:{uuid.uuid4().hex}"
    events_queue = RedisStreamQueue(REDIS_URL, stream=stream)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    batches, per_batch = 150, 200
    for batch in range(batches):
        events_queue.submit(
            [
                EventIn(
                    event_id=f"k{batch}-{n}",
                    user_id="u",
                    type="view",
                    item_id="i",
                    dwell_seconds=9,
                )
                for n in range(per_batch)
            ],
            now,
        )
    env = os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SPLITREC_EVENT_STREAM": stream,
        "SPLITREC_EVENT_CLAIM_IDLE_SECONDS": "1",
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = start()
    try:
        deadline = time.monotonic() + 30
        while _stored(engine) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.kill()
        first.wait()
        at_kill = _stored(engine)
        assert 0 < at_kill < batches * per_batch, "the kill came too late to test"
        second = start()
        try:
            deadline = time.monotonic() + 60
            while _stored(engine) < batches * per_batch and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=10)
        assert _stored(engine) == batches * per_batch
        assert events_queue.pending() == 0
    finally:
        if first.poll() is None:
            first.kill()
        events_queue.client.delete(stream)
        events_queue.client.close()
