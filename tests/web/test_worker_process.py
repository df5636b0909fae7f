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
                EventIn(event_id=f"w{batch}-{n}", user_id="u", type="view", item_id="i")
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
