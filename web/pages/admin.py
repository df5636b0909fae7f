"""Admin pages (people and API keys) and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from experimentation import accounts, audit
from experimentation.errors import Conflict, InvalidInput, NotFound
from web.auth import AdminDep, CsrfChecked, ViewerDep
from web.deps import NowDep, SessionDep
from web.pages.common import render

router = APIRouter(include_in_schema=False)


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    user: ViewerDep,
    target: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    """Who did what, newest first."""
    entries = audit.list_entries(session, target=target or None, limit=500)
    return render(
        request,
        "audit.html",
        {"entries": entries, "target": target or ""},
        user=user,
    )


def _users_page(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "users.html",
        {
            "accounts": accounts.list_accounts(session),
            "roles": accounts.ROLES,
            "errors": errors or {},
            "values": values or {"role": "viewer"},
        },
        user=user,
        status_code=status_code,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    return _users_page(request, session, user)


@router.post("/admin/users", dependencies=[CsrfChecked])
async def create_user(
    request: Request,
    session: SessionDep,
    now: NowDep,
    user: AdminDep,
    email: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=256)] = "",
    role: Annotated[str, Form(max_length=16)] = "viewer",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    def handle() -> Response:
        try:
            account = accounts.create_account(
                session, email=email, password=password, role=role, name=name, now=now
            )
        except (InvalidInput, Conflict) as error:
            message = str(error)
            where = "password" if "password" in message else "email"
            where = "role" if message.startswith("role") else where
            return _users_page(
                request,
                session,
                user,
                errors={where: message},
                values={"email": email, "name": name, "role": role},
                status_code=422,
            )
        audit.record(
            session,
            actor=user.actor,
            action="create_user",
            target=account.email,
            now=now,
            detail={"role": role},
        )
        session.commit()
        return see("/admin/users")

    return await run_in_threadpool(handle)


@router.post("/admin/users/{account_id}", dependencies=[CsrfChecked])
def update_user(
    request: Request,
    session: SessionDep,
    now: NowDep,
    user: AdminDep,
    account_id: int,
    role: Annotated[str, Form(max_length=16)],
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    try:
        account = accounts.get_account(session, account_id=account_id)
        accounts.update_account(
            session, account=account, role=role, active=active == "on"
        )
    except (NotFound, InvalidInput, Conflict) as error:
        return _users_page(
            request, session, user, errors={"update": str(error)}, status_code=409
        )
    audit.record(
        session,
        actor=user.actor,
        action="change_user",
        target=account.email,
        now=now,
        detail={"role": role, "active": active == "on"},
    )
    session.commit()
    return see("/admin/users")


def _keys_page(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    *,
    new_secret: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "keys.html",
        {
            "keys": accounts.list_keys(session),
            "scopes": accounts.SCOPE_HELP,
            "new_secret": new_secret,
            "errors": errors or {},
        },
        user=user,
        status_code=status_code,
    )


@router.get("/admin/keys", response_class=HTMLResponse)
def keys_page(request: Request, session: SessionDep, user: AdminDep) -> HTMLResponse:
    return _keys_page(request, session, user)


@router.post("/admin/keys", dependencies=[CsrfChecked])
def create_key(
    request: Request,
    session: SessionDep,
    now: NowDep,
    user: AdminDep,
    name: Annotated[str, Form(max_length=128)] = "",
    scope: Annotated[str, Form(max_length=16)] = "app",
) -> Response:
    """Make a key and show its secret once; only its hash is kept."""
    try:
        secret, key = accounts.create_key(
            session, name=name, scope=scope, now=now, created_by=user.account.id
        )
    except InvalidInput as error:
        return _keys_page(
            request, session, user, errors={"name": str(error)}, status_code=422
        )
    audit.record(
        session,
        actor=user.actor,
        action="create_key",
        target=f"key {key.name} ({key.prefix}…)",
        now=now,
        detail={"scope": scope},
    )
    session.commit()
    return _keys_page(request, session, user, new_secret=secret)


@router.post("/admin/keys/{key_id}/revoke", dependencies=[CsrfChecked])
def revoke_key(
    request: Request, session: SessionDep, now: NowDep, user: AdminDep, key_id: int
) -> Response:
    try:
        key = accounts.revoke_key(session, key_id=key_id, now=now)
    except NotFound as error:
        return _keys_page(
            request, session, user, errors={"revoke": str(error)}, status_code=404
        )
    audit.record(
        session,
        actor=user.actor,
        action="revoke_key",
        target=f"key {key.name} ({key.prefix}…)",
        now=now,
    )
    session.commit()
    request.app.state.api_keys.clear()
    return see("/admin/keys")
