"""The real-time path over loopback against a running server, on PostgreSQL
and Redis: cached and uncached recommendation latency, event ingestion rate
with every event counted, and the delay from a click to a list that reflects it.

    .venv/bin/python bench/realtime.py [--seconds 60] [--data PATH]

It creates its own PostgreSQL database (splitrec_bench_realtime) and Redis
keys (database 13), starts `splitrec serve` on 127.0.0.1:8765, and sends
traffic only there. The load generator shares the machine's two cores with
the server, so the figures are a floor for what the server alone could do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import numpy as np
import psycopg
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from experimentation import accounts
from experimentation.db import engine_for, migrate, session_scope
from experimentation.experiments import create_experiment, start_experiment
from experimentation.importers import import_movielens
from experimentation.models import Event
from experimentation.spec import ExperimentSpec
from web.demo import FLAGSHIP

ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"
DB_NAME = "splitrec_bench_realtime"
DATABASE_URL = f"postgresql+psycopg://root@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/13"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def percentiles(samples: list[float]) -> str:
    values = np.asarray(samples) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"


def prepare(data: Path) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    engine = engine_for(DATABASE_URL)
    migrate(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        import_movielens(session, data, now=now, history_only=True)
        create_experiment(
            session, spec=ExperimentSpec.model_validate(FLAGSHIP), now=now
        )
        start_experiment(session, key=FLAGSHIP["id"], now=now)
        secret, _ = accounts.create_key(session, name="bench", scope="admin", now=now)
    return secret


async def timed_get(client: httpx2.AsyncClient, params: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.get("/v1/recommendations", params=params)
    response.raise_for_status()
    return time.perf_counter() - started


async def uncached(client: httpx2.AsyncClient, n: int) -> list[float]:
    # A page name of its own per request: never in the cache.
    return [
        await timed_get(
            client,
            {
                "user_id": str(1 + i % 943),
                "experiment": FLAGSHIP["id"],
                "page": f"u{i}",
            },
        )
        for i in range(n)
    ]


async def cached(
    client: httpx2.AsyncClient, seconds: float, concurrency: int
) -> tuple[list[float], float]:
    users = [str(u) for u in range(1, 201)]
    for user in users:
        await timed_get(client, {"user_id": user, "experiment": FLAGSHIP["id"]})
    samples: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            user = users[i % len(users)]
            samples.append(
                await timed_get(client, {"user_id": user, "experiment": FLAGSHIP["id"]})
            )
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(loop(k) for k in range(concurrency)))
    return samples, len(samples) / (time.perf_counter() - started)


async def ingest(
    client: httpx2.AsyncClient, seconds: float, rate: int, batch: int = 100
) -> tuple[int, float, int]:
    """Send `rate` events per second for `seconds`; returns (sent, rate, errors)."""
    run = uuid.uuid4().hex[:8]
    sent = errors = 0
    started = time.perf_counter()
    tick = batch / rate
    pending: set[asyncio.Task[None]] = set()

    async def post(n: int) -> None:
        nonlocal errors
        events = [
            {
                "event_id": f"bench-{run}-{n}-{j}",
                "user_id": str(1 + (n * batch + j) % 943),
                "type": "impression",
                "item_id": str(1 + j),
            }
            for j in range(batch)
        ]
        response = await client.post("/v1/events", json=events)
        if response.status_code != 202:
            errors += 1

    n = 0
    while time.perf_counter() - started < seconds:
        due = started + n * tick
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(post(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += batch
        n += 1
    await asyncio.gather(*pending)
    return sent, sent / (time.perf_counter() - started), errors


async def click_delay(client: httpx2.AsyncClient, users: int) -> list[float]:
    delays = []
    for u in range(300, 300 + users):
        params = {"user_id": str(u), "experiment": FLAGSHIP["id"]}
        served = (await client.get("/v1/recommendations", params=params)).json()
        item = served["items"][0]["item_id"]
        clicked = time.perf_counter()
        await client.post(
            "/v1/events",
            json={
                "event_id": f"delay-{uuid.uuid4().hex}",
                "user_id": str(u),
                "type": "click",
                "item_id": item,
            },
        )
        while True:
            body = (await client.get("/v1/recommendations", params=params)).json()
            if item not in {i["item_id"] for i in body["items"]}:
                break
            await asyncio.sleep(0.002)
        delays.append(time.perf_counter() - clicked)
    return delays


async def run(key: str, seconds: float) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx2.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx2.AsyncClient(
        base_url=BASE, headers=headers, limits=limits, timeout=30
    ) as client:
        await uncached(client, 50)  # warm up: fits the models
        samples = await uncached(client, 1000)
        print(f"uncached recommendations (1 at a time): {percentiles(samples)}")
        for concurrency in (1, 4, 16):
            samples, rps = await cached(client, min(seconds, 15), concurrency)
            print(
                f"cached recommendations, {concurrency} in flight: {rps:,.0f} req/s, "
                f"{percentiles(samples)}"
            )
        sent, rate, errors = await ingest(client, seconds, rate=5_000)
        print(
            f"ingestion: sent {sent:,} events in {seconds:.0f} s ({rate:,.0f}/s), "
            f"{errors} failed requests"
        )
        delays = await click_delay(client, 50)
        print(f"click to a list without the clicked item: {percentiles(delays)}")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("SPLITREC_DATA", "../shared/data/ml-100k")),
    )
    args = parser.parse_args()
    key = prepare(args.data)
    server = start_server()
    try:
        sent = asyncio.run(run(key, args.seconds))
        stored = wait_stored("bench-%", sent)
        print(
            f"ingestion: sent {sent:,}, stored {stored:,} "
            f"({'equal' if stored == sent else 'NOT EQUAL'})"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


def start_server(workers: int = 1) -> subprocess.Popen[bytes]:
    env = os.environ | {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--port",
            str(PORT),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{BASE}/health", timeout=1).status_code == 200:
                return server
        except httpx2.TransportError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("the server did not start within 60 s")


def wait_stored(pattern: str, sent: int, timeout: float = 120) -> int:
    """Events with ids LIKE pattern once the writers have caught up."""
    engine = engine_for(DATABASE_URL)
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline:
        with Session(engine) as session:
            stored = int(
                session.scalar(select(func.count()).where(Event.event_id.like(pattern)))
                or 0
            )
        if stored >= sent:
            break
        time.sleep(0.5)
    return stored


if __name__ == "__main__":
    main()
