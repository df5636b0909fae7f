"""One error shape for the JSON API: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from experimentation.errors import Conflict, InvalidInput, InvalidState, NotFound

log = logging.getLogger(__name__)

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
        return JSONResponse(
            error_body("http_error", str(exc.detail)), status_code=exc.status_code
        )
