"""Keys, passwords and session tokens never reach the logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import make_key
from tests.utils.factories import flagship_spec
from tests.utils.web import PASSWORD, sign_in


def test_secrets_never_logged(
    anonymous_client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = make_key(engine, "admin")
    headers = {"Authorization": f"Bearer {key}"}
    anonymous_client.post("/v1/experiments", json=flagship_spec(), headers=headers)
    anonymous_client.post("/v1/experiments/rec-algorithm-v2/start", headers=headers)
    anonymous_client.get(
        "/v1/recommendations",
        params={"user_id": "u1", "experiment": "rec-algorithm-v2"},
        headers=headers,
    )
    anonymous_client.get("/v1/experiments", headers={"Authorization": "Bearer sr_bad"})
    signed_in = sign_in(anonymous_client, engine, "admin")
    signed_in.get("/")
    cookies = [c for c in signed_in.cookies.values() if len(c) > 16]
    assert caplog.records, "nothing was logged, so the test proves nothing"
    text = caplog.text
    for secret in (key, key[10:], PASSWORD, "sr_bad", *cookies):
        assert secret not in text
