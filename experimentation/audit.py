"""The audit log: who created, changed, started, stopped what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from experimentation.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction, so it commits with the change."""
    entry = AuditEntry(
        at=now,
        actor=actor[:300],
        action=action,
        target=target[:300],
        detail=detail or {},
    )
    session.add(entry)
    return entry


def list_entries(
    session: Session, *, target: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    return list(
        session.scalars(
            query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        )
    )
