"""People who sign in, their browser sessions, and API keys.

Secrets are never stored: passwords as argon2 hashes, session tokens and API
keys as SHA-256 digests (they are long random strings, so a fast hash is
enough; a password needs the slow one).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from experimentation.errors import Conflict, InvalidInput, NotFound
from experimentation.models import Account, ApiKey, WebSession

log = logging.getLogger(__name__)

ROLES: Final = ("viewer", "editor", "admin")
SCOPES: Final = ("app", "analyst", "editor", "admin")
SCOPE_HELP: Final = {
    "app": "recommendations and events",
    "analyst": "read experiments and results",
    "editor": "read, create, start and stop experiments",
    "admin": "everything",
}
# What each scope may do; a route asks for one of the right-hand names.
GRANTS: Final[dict[str, frozenset[str]]] = {
    "app": frozenset({"app"}),
    "analyst": frozenset({"analyst"}),
    "editor": frozenset({"analyst", "editor"}),
    "admin": frozenset({"app", "analyst", "editor", "admin"}),
}
KEY_PREFIX: Final = "sr_"
SESSION_LIFETIME: Final = timedelta(days=7)
MIN_PASSWORD: Final = 10
_hasher = PasswordHasher()
# Verified against when the email is unknown, so that both paths take as long.
_DUMMY_HASH: Final = _hasher.hash(secrets.token_hex(16))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if (
        not 3 <= len(email) <= 254
        or "@" not in email
        or any(c.isspace() for c in email)
    ):
        raise InvalidInput("email must look like name@example.org")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InvalidInput("password must have at most 1024 characters")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return role


def create_account(
    session: Session, *, email: str, password: str, role: str, name: str, now: datetime
) -> Account:
    email = normalise_email(email)
    check_password(password)
    check_role(role)
    if session.scalar(select(Account.id).where(Account.email == email)):
        raise Conflict(f"an account for {email} already exists")
    account = Account(
        email=email,
        name=name.strip()[:256],
        role=role,
        password_hash=_hasher.hash(password),
        active=True,
        created_at=now,
    )
    session.add(account)
    session.flush()
    log.info("account created", extra={"role": role})
    return account


def set_password(session: Session, *, account: Account, password: str) -> None:
    check_password(password)
    account.password_hash = _hasher.hash(password)
    end_sessions(session, account_id=account.id)


def authenticate(session: Session, *, email: str, password: str) -> Account | None:
    """The active account with this email and password, or None."""
    account = session.scalar(
        select(Account).where(Account.email == email.strip().lower())
    )
    stored = account.password_hash if account is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or not account.active:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.email)))


def get_account(session: Session, *, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} does not exist")
    return account


def find_account(session: Session, *, email: str) -> Account:
    account = session.scalar(
        select(Account).where(Account.email == email.strip().lower())
    )
    if account is None:
        raise NotFound(f"no account for {email.strip().lower()}")
    return account


def count_admins(session: Session) -> int:
    return len(
        session.scalars(
            select(Account.id).where(Account.role == "admin", Account.active)
        ).all()
    )


def update_account(
    session: Session, *, account: Account, role: str, active: bool
) -> None:
    """Change role or activity; the last active admin cannot demote itself."""
    check_role(role)
    losing_admin = account.role == "admin" and account.active
    if losing_admin and (role != "admin" or not active) and count_admins(session) <= 1:
        raise Conflict("the last active admin must stay an active admin")
    account.role = role
    account.active = active
    if not active:
        end_sessions(session, account_id=account.id)


# Browser sessions


def start_session(
    session: Session, *, account: Account, now: datetime
) -> tuple[str, WebSession]:
    """A new session; returns the token for the cookie (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_hash=digest(token),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(web_session)
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.flush()
    return token, web_session


def session_account(
    session: Session, *, token: str, now: datetime
) -> tuple[WebSession, Account] | None:
    row = session.execute(
        select(WebSession, Account)
        .join(Account, Account.id == WebSession.account_id)
        .where(WebSession.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    web_session, account = row[0], row[1]
    if web_session.expires_at <= now or not account.active:
        return None
    return web_session, account


def end_session(session: Session, *, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == digest(token)))


def end_sessions(session: Session, *, account_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.account_id == account_id))


# API keys


def create_key(
    session: Session,
    *,
    name: str,
    scope: str,
    now: datetime,
    created_by: int | None = None,
) -> tuple[str, ApiKey]:
    """A new key; returns the secret, which is shown once and never stored."""
    name = name.strip()
    if not 1 <= len(name) <= 128:
        raise InvalidInput("a key needs a name of 1 to 128 characters")
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=secret[:10],
        key_hash=digest(secret),
        scope=scope,
        created_by=created_by,
        created_at=now,
    )
    session.add(key)
    session.flush()
    log.info("api key created", extra={"scope": scope, "prefix": key.prefix})
    return secret, key


def find_key(session: Session, *, secret: str) -> ApiKey | None:
    """The unrevoked key with this secret, or None."""
    wanted = digest(secret)
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == wanted))
    if key is None or key.revoked_at is not None:
        return None
    # The lookup matched by hash already; compare in constant time all the same.
    return key if hmac.compare_digest(key.key_hash, wanted) else None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())))


def revoke_key(session: Session, *, key_id: int, now: datetime) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    if key.revoked_at is None:
        key.revoked_at = now
    return key


def revoke_keys_named(session: Session, *, name: str, now: datetime) -> int:
    """Revoke every live key of this name (the demo's rerun); returns how many."""
    keys = session.scalars(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    ).all()
    for key in keys:
        key.revoked_at = now
    return len(keys)
