"""Helpers for page tests: accounts and a signed-in browser-like client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from experimentation import accounts

PASSWORD = "correct horse battery"


def add_account(engine: Engine, email: str, role: str) -> None:
    with Session(engine) as session:
        accounts.create_account(
            session,
            email=email,
            password=PASSWORD,
            role=role,
            name=email.split("@")[0],
            now=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.commit()


def form_token(client: TestClient, url: str = "/login") -> str:
    """The CSRF token a GET of `url` put into its forms."""
    response = client.get(url)
    token: str = response.context["csrf_token"]  # type: ignore[attr-defined]
    return token


def sign_in(client: TestClient, engine: Engine, role: str) -> TestClient:
    email = f"{role}@example.org"
    add_account(engine, email, role)
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": form_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def post_form(
    client: TestClient, url: str, data: dict[str, Any], token_from: str = "/"
) -> Any:
    """POST a form with the CSRF token of the signed-in session."""
    return client.post(
        url,
        data={**data, "csrf_token": form_token(client, token_from)},
        follow_redirects=False,
    )
