"""One error shape for the JSON API: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from experimentation.errors import Conflict, InvalidInput, InvalidState, NotFound

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

STATUS_OF: dict[type[Exception], tuple[int, str]] = {
    NotFound: (status.HTTP_404_NOT_FOUND, "not_found"),
    Conflict: (status.HTTP_409_CONFLICT, "conflict"),
    InvalidState: (status.HTTP_409_CONFLICT, "invalid_state"),
    InvalidInput: (status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid_input"),
}


class PayloadTooLarge(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


_BRANCH_MISMATCH = {"dict_type", "model_type", "model_attributes_type", "list_type"}


def _where(loc: tuple[Any, ...]) -> str:
    """A readable path: union-branch tags dropped, list indices in brackets."""
    text = ""
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int):
            text = (text or "events") + f"[{part}]"
        elif "[" in part and part.endswith("]"):
            continue  # pydantic's tag for a union branch, e.g. list[EventIn]
        else:
            text = f"{text}.{part}" if text else part
    return text


def describe_validation(errors: list[Any]) -> str:
    """One line naming each wrong field and what is wrong with it."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return "the request body is not valid JSON"
    relevant = [e for e in errors if e.get("type") not in _BRANCH_MISMATCH]
    if not relevant:
        return "the request body must be a JSON object (or a list of them)"
    parts = []
    for error in relevant[:5]:
        where = _where(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    if len(relevant) > 5:
        parts.append(f"and {len(relevant) - 5} more")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    async def on_known(request: Request, exc: Exception) -> JSONResponse:
        code, name = STATUS_OF[type(exc)]
        return JSONResponse(error_body(name, str(exc)), status_code=code)

    for kind in STATUS_OF:
        app.add_exception_handler(kind, on_known)

    @app.exception_handler(RequestValidationError)
    async def on_validation(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        return JSONResponse(
            error_body("invalid_request", describe_validation(list(exc.errors()))),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(PayloadTooLarge)
    async def on_too_large(request: Request, exc: PayloadTooLarge) -> JSONResponse:
        return JSONResponse(
            error_body("payload_too_large", exc.message),
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and "parsing the body" in str(
            exc.detail
        ):
            # FastAPI's answer to a body it cannot decode (not UTF-8): the
            # same condition, code and status as malformed JSON.
            return JSONResponse(
                error_body("invalid_request", "the request body is not valid JSON"),
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        return JSONResponse(
            error_body("http_error", str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def install_failure_handlers(app: FastAPI) -> None:
    """A database outage answers 503 with a retry hint; anything unexpected
    answers 500 in the error shape, without a trace or SQL, and is logged."""

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path})
        return JSONResponse(
            error_body(
                "database_unavailable",
                "the database is not reachable right now; retry shortly",
            ),
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the server logs the trace.
        return JSONResponse(
            error_body("internal_error", "an internal error occurred; it is logged"),
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )


class BodySizeLimit:
    """Refuses request bodies over `limit` bytes with 413, before parsing them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Tell the app the client is gone; the 413 is ours to send.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not too_large:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await self._refuse(send)

    def _message(self) -> str:
        return f"the request body is over the limit of {self.limit:,} bytes"

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body("payload_too_large", self._message()),
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
