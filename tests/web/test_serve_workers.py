"""`splitrec serve --workers 2`: two processes agree on assignments, share the
Redis cache, and log every exposure once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import httpx2
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from experimentation.models import Exposure
from tests.conftest import REDIS_URL, make_key
from tests.utils.factories import add_catalogue, add_history, flagship_spec


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_server_processes_agree(engine: Engine, database_url: str) -> None:
    with Session(engine) as session:
        add_catalogue(session)
        add_history(session)
        session.commit()
    key = make_key(engine, "admin")
    port = _free_port()
    env = os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SPLITREC_CACHE_PREFIX": f"test-{uuid.uuid4().hex}",
        "SPLITREC_EVENT_STREAM": f"test:events:{uuid.uuid4().hex}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        assert (
            httpx2.post(
                f"{base}/v1/experiments", json=flagship_spec(), headers=headers
            ).status_code
            == 201
        )
        httpx2.post(f"{base}/v1/experiments/rec-algorithm-v2/start", headers=headers)
        seen: dict[str, set[str]] = {}
        cached: list[bool] = []
        for round_ in range(3):
            for u in range(20):
                # A new connection each time, so requests spread over workers.
                response = httpx2.get(
                    f"{base}/v1/recommendations",
                    params={"user_id": f"u{u}", "experiment": "rec-algorithm-v2"},
                    headers=headers | {"Connection": "close"},
                )
                assert response.status_code == 200, response.text
                body = response.json()
                seen.setdefault(f"u{u}", set()).add(body["variant"])
                if round_ > 0:
                    cached.append(body["from_cache"])
        assert all(len(variants) == 1 for variants in seen.values())
        # The cache is shared: whichever worker answers, the list is reused.
        assert all(cached)
    finally:
        server.terminate()
        server.wait(timeout=20)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Exposure)) == 60
