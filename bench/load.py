"""Mixed load over loopback for 60 s against `splitrec serve` on PostgreSQL and
Redis: recommendation requests and event batches together. Prints requests/s,
p50/p95/p99 per endpoint, errors, and events sent against events stored.

    .venv/bin/python bench/load.py [--seconds 60] [--workers 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx2
from realtime import BASE, FLAGSHIP, percentiles, prepare, start_server, wait_stored

BATCH = 50
EVENTS_EVERY = 4  # one event batch per this many recommendation requests


async def client_loop(
    client: httpx2.AsyncClient,
    n: int,
    deadline: float,
    run: str,
    samples: dict[str, list[float]],
    errors: dict[str, int],
) -> int:
    sent = 0
    i = 0
    while time.perf_counter() < deadline:
        user = str(1 + (n * 7919 + i) % 943)
        started = time.perf_counter()
        response = await client.get(
            "/v1/recommendations",
            params={"user_id": user, "experiment": FLAGSHIP["id"]},
        )
        samples["GET /v1/recommendations"].append(time.perf_counter() - started)
        if response.status_code != 200:
            errors["GET /v1/recommendations"] += 1
        elif i % EVENTS_EVERY == 0:
            body = response.json()
            events = [
                {
                    "event_id": f"load-{run}-{n}-{i}-{j}",
                    "user_id": user,
                    "type": "impression" if j % 10 else "click",
                    "item_id": body["items"][j % len(body["items"])]["item_id"],
                    "request_id": body["request_id"],
                }
                for j in range(BATCH)
            ]
            started = time.perf_counter()
            posted = await client.post("/v1/events", json=events)
            samples["POST /v1/events"].append(time.perf_counter() - started)
            if posted.status_code in (200, 202):
                sent += BATCH
            else:
                errors["POST /v1/events"] += 1
        i += 1
    return sent


async def drive(key: str, seconds: float, clients: int) -> int:
    run = uuid.uuid4().hex[:8]
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(
        base_url=BASE,
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=30,
    ) as client:
        for u in range(1, 60):  # warm up: fit the models
            await client.get(
                "/v1/recommendations",
                params={"user_id": str(u), "experiment": FLAGSHIP["id"]},
            )
        started = time.perf_counter()
        deadline = started + seconds
        sent = sum(
            await asyncio.gather(
                *(
                    client_loop(client, n, deadline, run, samples, errors)
                    for n in range(clients)
                )
            )
        )
        elapsed = time.perf_counter() - started
    for endpoint, values in samples.items():
        print(
            f"{endpoint}: {len(values) / elapsed:,.0f} req/s, {percentiles(values)}, "
            f"{errors[endpoint]} errors"
        )
    stored = wait_stored(f"load-{run}-%", sent)
    print(
        f"events: sent {sent:,}, stored {stored:,} "
        f"({'equal' if stored == sent else 'NOT EQUAL'})"
    )
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("SPLITREC_DATA", "../shared/data/ml-100k")),
    )
    args = parser.parse_args()
    key = prepare(args.data)
    server = start_server(args.workers)
    try:
        asyncio.run(drive(key, args.seconds, args.clients))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
