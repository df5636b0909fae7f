"""Sign in and out."""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from experimentation import accounts, audit
from web.auth import (
    SESSION_COOKIE,
    CsrfChecked,
    MaybeSignedIn,
    set_cookie,
)
from web.deps import NowDep, SessionDep
from web.pages.common import render
from web.throttle import SignInThrottle

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site, never another host (open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, user: MaybeSignedIn, next: str | None = None
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return render(
        request, "login.html", {"next": safe_next(next), "error": None}, user=None
    )


@router.post("/login", dependencies=[CsrfChecked])
async def login(
    request: Request,
    session: SessionDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password (argon2, in a thread: it is slow on purpose)."""
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.wait(email=email, address=address, now=now)
    if wait is not None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        log.warning("sign-in throttled", extra={"address": address})
        throttled = render(
            request,
            "login.html",
            {
                "next": safe_next(next),
                "email": email,
                "error": "Too many failed sign-ins. Try again in "
                f"{minutes} minute{'s' if minutes > 1 else ''}.",
            },
            user=None,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        throttled.headers["Retry-After"] = str(math.ceil(wait.total_seconds()))
        return throttled

    def sign_in() -> str | None:
        account = accounts.authenticate(session, email=email, password=password)
        if account is None:
            return None
        token, _ = accounts.start_session(session, account=account, now=now)
        audit.record(
            session, actor=account.email, action="sign_in", target="web", now=now
        )
        session.commit()
        return token

    token = await run_in_threadpool(sign_in)
    if token is None:
        throttle.failed(email=email, address=address, now=now)
        return render(
            request,
            "login.html",
            {
                "next": safe_next(next),
                "email": email,
                "error": "Wrong email or password.",
            },
            user=None,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    throttle.succeeded(email=email)
    response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(
        request,
        response,
        SESSION_COOKIE,
        token,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
    )
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.end_session(session, token=token)
        session.commit()
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
