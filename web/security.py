"""API keys for apps and analysts: 401 without a valid key, 403 out of scope.

A key travels as ``Authorization: Bearer sr_...`` (or ``X-API-Key: sr_...``).
The table holds only its SHA-256; a lookup is cached for a few seconds so that
the recommendation path does not pay a query per request, and a revocation in
this process clears the cache at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from experimentation import accounts
from web.errors import error_body

CACHE_SECONDS = 10.0

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer sr_...")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ApiClient:
    """The key a request came with (never the secret itself)."""

    key_id: int
    name: str
    prefix: str
    scope: str

    @property
    def actor(self) -> str:
        return f"API key {self.name} ({self.prefix}…)"


class KeyCache:
    """Digest of a secret -> the key it names (or None), for CACHE_SECONDS."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, ApiClient | None]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[bool, ApiClient | None]:
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, digest: str, client: ApiClient | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:  # wrong keys must not grow it forever
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.seconds, client)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _lookup(sessions: sessionmaker[Session], secret: str) -> ApiClient | None:
    with sessions() as session:
        key = accounts.find_key(session, secret=secret)
        if key is None:
            return None
        return ApiClient(key.id, key.name, key.prefix, key.scope)


async def api_client(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiClient:
    secret = bearer.credentials if bearer is not None else header
    if not secret:
        raise Unauthorized(
            "an API key is required: send it as 'Authorization: Bearer <key>'"
        )
    cache: KeyCache = request.app.state.api_keys
    digest = accounts.digest(secret)
    hit, client = cache.get(digest)
    if not hit:
        client = await run_in_threadpool(
            _lookup, request.app.state.splitrec.sessions, secret
        )
        cache.put(digest, client)
    if client is None:
        raise Unauthorized("the API key is not valid or was revoked")
    return client


def require(grant: str) -> Any:
    """A dependency that lets through keys whose scope grants `grant`."""

    async def check(client: Annotated[ApiClient, Depends(api_client)]) -> ApiClient:
        if grant not in accounts.GRANTS.get(client.scope, frozenset()):
            allowed = [s for s, g in accounts.GRANTS.items() if grant in g]
            raise Forbidden(
                f"this {client.scope} key may not do this; it needs a key of "
                f"scope {' or '.join(allowed)}"
            )
        return client

    return Depends(check)


def _requires_key(request: Request) -> bool:
    """Whether the route a request matched checks an API key."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        if current.call is api_client:
            return True
        stack.extend(current.dependencies)
    return False


def _undecodable(exc: Exception) -> bool:
    if isinstance(exc, RequestValidationError):
        return any(e.get("type") == "json_invalid" for e in exc.errors())
    return (
        isinstance(exc, StarletteHTTPException)
        and exc.status_code == status.HTTP_400_BAD_REQUEST
        and "parsing the body" in str(exc.detail)
    )


def _check_key_before_body_errors(app: FastAPI) -> None:
    """FastAPI decodes a request's body before it runs the dependencies, so a
    body that is not JSON would be answered 422 before the key was looked at:
    a caller without a valid key could probe the API. Check the key first."""
    for kind in (RequestValidationError, StarletteHTTPException):
        answer = app.exception_handlers[kind]

        async def key_first(
            request: Request, exc: Exception, answer: Any = answer
        ) -> Any:
            if _undecodable(exc) and _requires_key(request):
                try:
                    await api_client(
                        request, await _bearer(request), await _header(request)
                    )
                except Unauthorized as unauthorized:
                    return _unauthorized(unauthorized)
            return await answer(request, exc)

        app.add_exception_handler(kind, key_first)


def _unauthorized(exc: Unauthorized) -> JSONResponse:
    return JSONResponse(
        error_body("unauthorized", exc.message),
        status_code=status.HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


def install(app: FastAPI) -> None:
    """Key checks; after web.errors.install, whose body errors it wraps."""
    app.state.api_keys = KeyCache()
    _check_key_before_body_errors(app)

    @app.exception_handler(Unauthorized)
    async def on_unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return _unauthorized(exc)

    @app.exception_handler(Forbidden)
    async def on_forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(
            error_body("forbidden", exc.message), status_code=status.HTTP_403_FORBIDDEN
        )
