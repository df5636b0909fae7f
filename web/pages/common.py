"""What every page shares: templates, filters, rendering with security headers."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from experimentation.durations import format_duration
from web.auth import CSRF_COOKIE, SignedIn, csrf_token, set_cookie

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
templates = Jinja2Templates(directory=TEMPLATES)

# Pages load nothing from elsewhere and run no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def pct(value: float | None, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.2%}" if signed else f"{value:.1%}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


templates.env.filters["num"] = num
templates.env.filters["pct"] = pct
templates.env.filters["duration"] = format_duration
templates.env.filters["when"] = when


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: SignedIn | None,
    status_code: int = 200,
) -> HTMLResponse:
    token = csrf_token(request, user)
    response = templates.TemplateResponse(
        request,
        template,
        {"user": user, "csrf_token": token, **context},
        status_code=status_code,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )
    fresh = getattr(request.state, "new_csrf_cookie", None)
    if fresh:
        set_cookie(request, response, CSRF_COOKIE, fresh, max_age=86_400)
    return response
