"""events: the per-user index covers the values reports read (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INCLUDE = ["type", "value", "dwell_seconds", "request_id"]


def upgrade() -> None:
    # Only PostgreSQL has INCLUDE; SQLite keeps the plain index.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_events_user_occurred", table_name="events")
    op.create_index(
        "ix_events_user_occurred",
        "events",
        ["user_id", "occurred_at"],
        postgresql_include=_INCLUDE,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_events_user_occurred", table_name="events")
    op.create_index("ix_events_user_occurred", "events", ["user_id", "occurred_at"])
