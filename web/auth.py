"""Sign-in for people: session cookie, roles, and CSRF tokens on every form.

The session cookie holds a random token (HttpOnly, SameSite=Lax, Secure over
HTTPS); the table keeps its SHA-256 and a CSRF token bound to the session.
Before sign-in, the login form uses a double-submit token in its own cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Request, Response

from experimentation import accounts
from experimentation.models import Account, WebSession
from web.deps import NowDep, SessionDep

SESSION_COOKIE: Final = "splitrec_session"
CSRF_COOKIE: Final = "splitrec_csrf"
CSRF_FIELD: Final = "csrf_token"
RANK: Final = {role: rank for rank, role in enumerate(accounts.ROLES)}


@dataclass(frozen=True)
class SignedIn:
    account: Account
    web_session: WebSession

    @property
    def actor(self) -> str:
        return self.account.email

    def can(self, role: str) -> bool:
        return RANK[self.account.role] >= RANK[role]


class SignInRequired(Exception):
    """No valid session: the page handler answers with a redirect to /login."""


class RoleRequired(Exception):
    def __init__(self, role: str) -> None:
        super().__init__(f"this page needs the {role} role")
        self.role = role


class CsrfFailed(Exception):
    """The form's token is missing or does not match the session's."""


def current(request: Request, session: SessionDep, now: NowDep) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = accounts.session_account(session, token=token, now=now)
    if found is None:
        return None
    return SignedIn(account=found[1], web_session=found[0])


MaybeSignedIn = Annotated[SignedIn | None, Depends(current)]


def role(minimum: str) -> Any:
    def check(user: MaybeSignedIn) -> SignedIn:
        if user is None:
            raise SignInRequired()
        if not user.can(minimum):
            raise RoleRequired(minimum)
        return user

    return Depends(check)


ViewerDep = Annotated[SignedIn, role("viewer")]
EditorDep = Annotated[SignedIn, role("editor")]
AdminDep = Annotated[SignedIn, role("admin")]


def anonymous_csrf(request: Request) -> str:
    """The double-submit token of a visitor not signed in (new if none)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 64:
        return token
    token = secrets.token_urlsafe(32)
    request.state.new_csrf_cookie = token
    return token


def csrf_token(request: Request, user: SignedIn | None) -> str:
    return user.web_session.csrf_token if user else anonymous_csrf(request)


async def _check_csrf(request: Request, user: MaybeSignedIn) -> None:
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = user.web_session.csrf_token if user else request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected:
        raise CsrfFailed()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()


CsrfChecked = Depends(_check_csrf)


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
