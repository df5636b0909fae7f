"""API keys (401 without, 403 out of scope), sign-in, sessions and CSRF."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from experimentation.models import Account, ApiKey
from tests.conftest import FakeClock, make_key
from tests.utils.factories import flagship_spec
from tests.utils.web import PASSWORD, add_account, form_token, sign_in

API_CALLS = [
    ("GET", "/v1/recommendations?user_id=u1&experiment=x", "app"),
    ("POST", "/v1/events", "app"),
    ("GET", "/v1/experiments", "analyst"),
    ("GET", "/v1/experiments/x", "analyst"),
    ("GET", "/v1/experiments/x/results", "analyst"),
    ("POST", "/v1/experiments", "editor"),
    ("POST", "/v1/experiments/x/start", "editor"),
    ("POST", "/v1/experiments/x/stop", "editor"),
    ("POST", "/v1/experiments/x/ramp", "editor"),
]
# Which scopes may make each kind of call.
ALLOWED = {
    "app": {"app", "admin"},
    "analyst": {"analyst", "editor", "admin"},
    "editor": {"editor", "admin"},
}


@pytest.mark.parametrize(("method", "url", "needs"), API_CALLS)
def test_api_without_key_401(
    anonymous_client: TestClient, engine: Engine, method: str, url: str, needs: str
) -> None:
    response = anonymous_client.request(method, url, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


BODY_CALLS = [(m, u) for m, u, _ in API_CALLS if m == "POST"]


@pytest.mark.parametrize(("method", "url"), BODY_CALLS)
@pytest.mark.parametrize("body", [b"{not json", b'{"a": "\xff\xfe"}'])
@pytest.mark.parametrize("key", [None, "sr_not-a-real-key"])
def test_api_undecodable_body_without_valid_key_401(
    anonymous_client: TestClient,
    engine: Engine,
    method: str,
    url: str,
    body: bytes,
    key: str | None,
) -> None:
    """Guards against a body FastAPI cannot decode being answered (422) before
    the key is checked, which told callers without a key about the API."""
    headers = {"content-type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = anonymous_client.request(method, url, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_api_undecodable_body_with_valid_key_422(
    anonymous_client: TestClient, engine: Engine
) -> None:
    headers = {
        "content-type": "application/json",
        "Authorization": f"Bearer {make_key(engine, 'app')}",
    }
    response = anonymous_client.post("/v1/events", content=b"{not", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "the request body is not valid JSON"


def test_api_calls_cover_every_v1_route(anonymous_client: TestClient) -> None:
    """Guards against a new /v1 route escaping the table above (and its checks)."""
    paths = anonymous_client.get("/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1")
        for method in operations
    }
    listed = {
        (method, url.split("?")[0].replace("/x", "/{key}"))
        for method, url, _ in API_CALLS
    }
    assert routes == listed


def test_api_wrong_key_401(anonymous_client: TestClient, engine: Engine) -> None:
    for headers in (
        {"Authorization": "Bearer sr_not-a-real-key"},
        {"X-API-Key": "sr_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = anonymous_client.get("/v1/experiments", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("scope", ["app", "analyst", "editor", "admin"])
def test_api_scopes_403_outside_their_scope(
    anonymous_client: TestClient, engine: Engine, scope: str
) -> None:
    key = make_key(engine, scope)
    for method, url, needs in API_CALLS:
        response = anonymous_client.request(
            method, url, json={}, headers={"Authorization": f"Bearer {key}"}
        )
        if scope in ALLOWED[needs]:
            assert response.status_code not in (401, 403), (scope, url)
        else:
            assert response.status_code == 403, (scope, url)
            body = response.json()["error"]
            assert body["code"] == "forbidden"
            assert f"this {scope} key may not do this" in body["message"]


def test_api_key_header_alternative(
    anonymous_client: TestClient, engine: Engine
) -> None:
    key = make_key(engine, "analyst")
    response = anonymous_client.get("/v1/experiments", headers={"X-API-Key": key})
    assert response.status_code == 200


def test_api_key_stored_only_hashed(engine: Engine) -> None:
    key = make_key(engine, "app", name="mobile")
    with Session(engine) as session:
        stored = session.scalars(select(ApiKey)).one()
    assert key not in (stored.key_hash, stored.prefix, stored.name)
    assert key.startswith(stored.prefix)
    assert len(stored.key_hash) == 64


def test_api_key_revoked_in_ui_refused_at_once(
    client: TestClient, anonymous_client: TestClient, engine: Engine
) -> None:
    """Regression guard: the key cache must not keep a revoked key alive."""
    app_key = make_key(engine, "app", name="to revoke")
    headers = {"Authorization": f"Bearer {app_key}"}
    client.headers.pop("Authorization")
    assert client.post("/v1/events", json=[], headers=headers).status_code != 401
    sign_in(client, engine, "admin")
    with Session(engine) as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.name == "to revoke"))
    response = client.post(
        f"/admin/keys/{key_id}/revoke",
        data={"csrf_token": form_token(client, "/admin/keys")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert client.post("/v1/events", json=[], headers=headers).status_code == 401


def test_api_experiment_actions_audited(client: TestClient, engine: Engine) -> None:
    client.post("/v1/experiments", json=flagship_spec())
    client.post("/v1/experiments/rec-algorithm-v2/start")
    sign_in(client, engine, "viewer")
    entries = client.get("/audit").context["entries"]  # type: ignore[attr-defined]
    assert [e.action for e in entries][:3] == ["sign_in", "start", "create"]
    assert entries[1].actor.startswith("API key test admin (sr_")


def test_password_hashed_with_argon2(engine: Engine) -> None:
    add_account(engine, "a@example.org", "viewer")
    with Session(engine) as session:
        account = session.scalars(select(Account)).one()
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash


def test_pages_redirect_to_sign_in(
    anonymous_client: TestClient, engine: Engine
) -> None:
    response = anonymous_client.get("/experiments/new?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fexperiments%2Fnew%3Fx%3D1"


def test_sign_in_wrong_password_401(
    anonymous_client: TestClient, engine: Engine
) -> None:
    add_account(engine, "v@example.org", "viewer")
    token = form_token(anonymous_client)
    for email, password in [("v@example.org", "wrong one!"), ("no@one.org", PASSWORD)]:
        response = anonymous_client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token},
        )
        assert response.status_code == 401
        assert response.context["error"] == "Wrong email or password."  # type: ignore[attr-defined]
    assert "splitrec_session" not in anonymous_client.cookies


def _attempt(client: TestClient, email: str, password: str) -> Any:
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": form_token(client)},
        follow_redirects=False,
    )


def test_sign_in_paused_after_repeated_failures_for_an_email(
    anonymous_client: TestClient, engine: Engine, clock: FakeClock
) -> None:
    add_account(engine, "v@example.org", "viewer")
    for _ in range(10):
        assert _attempt(anonymous_client, "v@example.org", "guess").status_code == 401
    # Even the right password waits: the guesser cannot tell it was right.
    paused = _attempt(anonymous_client, "V@example.org", PASSWORD)
    assert paused.status_code == 429
    assert 0 < int(paused.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins" in paused.text
    assert "splitrec_session" not in anonymous_client.cookies
    clock.now += timedelta(minutes=15)
    assert _attempt(anonymous_client, "v@example.org", PASSWORD).status_code == 303


def test_sign_in_paused_after_failures_from_one_address_across_emails(
    anonymous_client: TestClient,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("web.throttle.PER_ADDRESS", 5)
    add_account(engine, "w@example.org", "viewer")
    for n in range(5):
        assert _attempt(anonymous_client, f"x{n}@example.org", "p").status_code == 401
    assert _attempt(anonymous_client, "w@example.org", PASSWORD).status_code == 429


def test_sign_in_success_clears_the_email_failures(
    anonymous_client: TestClient, engine: Engine
) -> None:
    add_account(engine, "s@example.org", "viewer")
    for _ in range(9):
        _attempt(anonymous_client, "s@example.org", "guess")
    assert _attempt(anonymous_client, "s@example.org", PASSWORD).status_code == 303
    anonymous_client.cookies.clear()
    for _ in range(9):
        assert _attempt(anonymous_client, "s@example.org", "guess").status_code == 401


def test_sign_in_cookie_flags_and_sign_out(
    anonymous_client: TestClient, engine: Engine
) -> None:
    add_account(engine, "e@example.org", "editor")
    response = anonymous_client.post(
        "/login",
        data={
            "email": "E@Example.org ",
            "password": PASSWORD,
            "csrf_token": form_token(anonymous_client),
            "next": "/audit",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert anonymous_client.get("/").status_code == 200
    out = anonymous_client.post(
        "/logout", data={"csrf_token": form_token(anonymous_client, "/")}
    )
    assert out.template.name == "login.html"  # type: ignore[attr-defined]
    assert anonymous_client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_refuses_open_redirect(
    anonymous_client: TestClient, engine: Engine
) -> None:
    add_account(engine, "e@example.org", "editor")
    response = anonymous_client.post(
        "/login",
        data={
            "email": "e@example.org",
            "password": PASSWORD,
            "csrf_token": form_token(anonymous_client),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_csrf_missing_or_wrong_403(
    anonymous_client: TestClient, engine: Engine
) -> None:
    client = sign_in(anonymous_client, engine, "editor")
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post("/experiments/new", data={**data, "key": "x"})
        assert response.status_code == 403
        assert response.template.name == "error.html"  # type: ignore[attr-defined]
    assert (
        client.post("/login", data={"email": "x", "password": "y"}).status_code == 403
    )


@pytest.mark.parametrize(
    ("role", "url", "expected"),
    [
        ("viewer", "/", 200),
        ("viewer", "/audit", 200),
        ("viewer", "/experiments/new", 403),
        ("viewer", "/admin/users", 403),
        ("editor", "/experiments/new", 200),
        ("editor", "/admin/keys", 403),
        ("admin", "/admin/users", 200),
        ("admin", "/admin/keys", 200),
    ],
)
def test_roles_reach_their_pages(
    anonymous_client: TestClient, engine: Engine, role: str, url: str, expected: int
) -> None:
    client = sign_in(anonymous_client, engine, role)
    assert client.get(url).status_code == expected


def test_viewer_cannot_post_editor_forms(
    anonymous_client: TestClient, engine: Engine
) -> None:
    client = sign_in(anonymous_client, engine, "viewer")
    token = form_token(client, "/")
    response = client.post(
        "/experiments/new", data={"csrf_token": token, "key": "sneaky"}
    )
    assert response.status_code == 403


def test_last_admin_cannot_demote_itself(
    anonymous_client: TestClient, engine: Engine
) -> None:
    client = sign_in(anonymous_client, engine, "admin")
    with Session(engine) as session:
        admin_id = session.scalar(select(Account.id))
    response = client.post(
        f"/admin/users/{admin_id}",
        data={"csrf_token": form_token(client, "/admin/users"), "role": "viewer"},
    )
    assert response.status_code == 409
    assert "last active admin" in response.context["errors"]["update"]  # type: ignore[attr-defined]


def test_admin_creates_user_and_key(
    anonymous_client: TestClient, engine: Engine
) -> None:
    client = sign_in(anonymous_client, engine, "admin")
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": form_token(client, "/admin/users"),
            "email": "new@example.org",
            "role": "editor",
            "password": "short",
        },
    )
    assert response.status_code == 422
    assert "at least 10" in response.context["errors"]["password"]  # type: ignore[attr-defined]
    response = client.post(
        "/admin/keys",
        data={
            "csrf_token": form_token(client, "/admin/keys"),
            "name": "ios app",
            "scope": "app",
        },
    )
    assert response.template.name == "keys.html"  # type: ignore[attr-defined]
    secret = response.context["new_secret"]  # type: ignore[attr-defined]
    assert response.headers["cache-control"] == "no-store"
    client.cookies.clear()
    served = client.post(
        "/v1/events", json=[], headers={"Authorization": f"Bearer {secret}"}
    )
    assert served.status_code == 200
