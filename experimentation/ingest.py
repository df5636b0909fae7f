"""The event path: the API validates and enqueues, a worker stores in batches.

With REDIS_URL the queue is a Redis Stream read by a consumer group, so any
number of `splitrec worker` processes share the work. Delivery is at least
once: an entry is acknowledged only after its events are committed, and an
entry left pending by a dead worker is claimed by another after
CLAIM_IDLE_SECONDS. Storage is exactly once, because events are inserted with
ON CONFLICT DO NOTHING on event_id. Without Redis the same interface runs over
an in-process queue drained by a thread.

After storing, the worker invalidates the cached lists of the users whose
events changed their profile, so that the next request reads the new history.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from experimentation.db import session_scope
from experimentation.events import INVALIDATING_TYPES, EventIn, event_row, insert_rows

log = logging.getLogger(__name__)

STREAM = "splitrec:events"
GROUP = "splitrec-writers"
CLAIM_IDLE_SECONDS = 30.0
READ_COUNT = 50

Invalidate = Callable[[set[str]], None]


@dataclass(frozen=True)
class Batch:
    """Rows ready for the events table, as one API call submitted them."""

    id: str
    rows: list[dict[str, Any]]


class EventQueue(Protocol):
    def submit(self, events: Sequence[EventIn], now: datetime) -> None: ...

    def read(self, consumer: str, block_ms: int) -> list[Batch]: ...

    def ack(self, batches: Sequence[Batch]) -> None: ...

    def pending(self) -> int: ...

    def release(self, batches: Sequence[Batch]) -> None:
        """Give batches back unstored, to be read again."""

    def dead_letter(self, batch: Batch, reason: str) -> None:
        """Set aside a batch the database refuses, acknowledging it."""


def _rows(events: Sequence[EventIn], now: datetime) -> list[dict[str, Any]]:
    return [event_row(event, now) for event in events]


class MemoryQueue:
    """In-process queue: the embedded default."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Batch] = queue.Queue()
        self._unacked = 0
        self.dead: list[tuple[Batch, str]] = []
        self._lock = threading.Lock()

    def submit(self, events: Sequence[EventIn], now: datetime) -> None:
        with self._lock:
            self._unacked += 1
        self._queue.put(Batch(uuid.uuid4().hex, _rows(events, now)))

    def read(self, consumer: str, block_ms: int) -> list[Batch]:
        try:
            first = self._queue.get(timeout=block_ms / 1000)
        except queue.Empty:
            return []
        batches = [first]
        while len(batches) < READ_COUNT:
            try:
                batches.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batches

    def ack(self, batches: Sequence[Batch]) -> None:
        with self._lock:
            self._unacked -= len(batches)

    def pending(self) -> int:
        with self._lock:
            return self._unacked

    def release(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            self._queue.put(batch)

    def dead_letter(self, batch: Batch, reason: str) -> None:
        # TODO: in process there is nowhere durable to keep it; the error log
        # names the batch. With Redis it goes to a stream of its own.
        self.dead.append((batch, reason))
        self.ack([batch])


class RedisStreamQueue:
    """A Redis Stream with one consumer group shared by all workers."""

    def __init__(
        self,
        url: str,
        stream: str = STREAM,
        group: str = GROUP,
        claim_idle_seconds: float = CLAIM_IDLE_SECONDS,
    ) -> None:
        # Short timeouts: a hung Redis must not hold a request for long.
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=2
        )
        self.stream = stream
        self.group = group
        self.claim_idle_ms = int(claim_idle_seconds * 1000)
        self._group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def submit(self, events: Sequence[EventIn], now: datetime) -> None:
        payload = json.dumps(_rows(events, now), default=_iso)
        self.client.xadd(self.stream, {"rows": payload})

    def read(self, consumer: str, block_ms: int) -> list[Batch]:
        self._ensure_group()
        # First, entries a dead worker left unacknowledged for too long.
        claimed: Any = self.client.xautoclaim(
            self.stream,
            self.group,
            consumer,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=READ_COUNT,
        )
        entries = [e for e in claimed[1] if e[1]]
        if not entries:
            answer: Any = self.client.xreadgroup(
                self.group,
                consumer,
                {self.stream: ">"},
                count=READ_COUNT,
                block=block_ms,
            )
            entries = answer[0][1] if answer else []
        return [_batch(entry_id, fields) for entry_id, fields in entries]

    def ack(self, batches: Sequence[Batch]) -> None:
        if not batches:
            return
        ids = [b.id for b in batches]
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *ids)
        # Stored for good: the stream need not keep them.
        pipe.xdel(self.stream, *ids)
        pipe.execute()

    def pending(self) -> int:
        self._ensure_group()
        return int(self.client.xlen(self.stream))

    def release(self, batches: Sequence[Batch]) -> None:
        # Left pending in the group: claimed again after the idle time.
        return None

    def dead_letter(self, batch: Batch, reason: str) -> None:
        payload = json.dumps(batch.rows, default=_iso)
        self.client.xadd(
            f"{self.stream}:dead", {"rows": payload, "reason": reason, "id": batch.id}
        )
        self.ack([batch])


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _batch(entry_id: bytes | str, fields: dict[Any, Any]) -> Batch:
    raw = fields.get(b"rows", fields.get("rows"))
    if raw is None:
        raise ValueError(f"stream entry {entry_id!r} has no rows")
    rows = json.loads(raw)
    for row in rows:
        row["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
        row["received_at"] = datetime.fromisoformat(row["received_at"])
    key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Batch(key, rows)


def make_queue(redis_url: str | None, stream: str = STREAM) -> EventQueue:
    return RedisStreamQueue(redis_url, stream=stream) if redis_url else MemoryQueue()


class EventWriter:
    """Reads batches from the queue and stores them; one per worker."""

    def __init__(
        self,
        engine: Engine,
        events: EventQueue,
        invalidate: Invalidate,
        consumer: str | None = None,
    ) -> None:
        self.engine = engine
        self.events = events
        self.invalidate = invalidate
        self.consumer = consumer or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stored = 0

    def step(self, block_ms: int = 500) -> int:
        """Store one read of batches; returns how many events were new."""
        batches = self.events.read(self.consumer, block_ms)
        if not batches:
            return 0
        try:
            stored = self._store(batches)
        except DBAPIError as error:
            if error.connection_invalidated or isinstance(error, OperationalError):
                # The database is away or locked: give the batches back so
                # that nothing acknowledged by the API is lost; retried later.
                self.events.release(batches)
                raise
            # The data itself is refused: store batch by batch, so that one
            # bad batch cannot hold back (or lose) anyone else's events.
            stored = sum(self._store_alone(batch) for batch in batches)
        self.stored += stored
        return stored

    def _store(self, batches: Sequence[Batch]) -> int:
        rows = [row for batch in batches for row in batch.rows]
        with session_scope(self.engine) as session:
            stored = insert_rows(session, rows)
        # Caches go before the acknowledgement: whoever waits for the queue to
        # empty must not then be served a list from before these events.
        self.invalidate(
            {row["user_id"] for row in rows if row["type"] in INVALIDATING_TYPES}
        )
        # Acknowledged only once committed: a crash before this line leaves
        # the batches pending for another worker, and event_id keeps them once.
        self.events.ack(batches)
        log.debug("events written", extra={"rows": len(rows), "stored": stored})
        return stored

    def _store_alone(self, batch: Batch) -> int:
        try:
            return self._store([batch])
        except DBAPIError as error:
            if isinstance(error, OperationalError):
                self.events.release([batch])
                raise
            # A batch the database will never take: set it aside, whole and
            # inspectable, rather than retry it forever or drop it.
            self.events.dead_letter(batch, type(error.orig).__name__)
            log.error(
                "event batch refused by the database; set aside",
                extra={"batch": batch.id, "events": len(batch.rows)},
            )
            return 0

    def run(self) -> None:
        log.info("event writer started", extra={"consumer": self.consumer})
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a worker must outlive one bad read
                log.exception("event write failed; retrying")
                time.sleep(1.0)
        log.info("event writer stopped", extra={"stored": self.stored})

    def stop(self) -> None:
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run, name="event-writer", daemon=True
        )
        self._thread.start()
        return self._thread

    def drain(self, timeout: float = 10.0) -> None:
        """Store everything queued so far (tests and the demo use it)."""
        deadline = time.monotonic() + timeout
        threaded = self._thread is not None and self._thread.is_alive()
        while self.events.pending() and time.monotonic() < deadline:
            if threaded:
                time.sleep(0.001)  # the thread is storing them
            else:
                self.step(block_ms=50)
