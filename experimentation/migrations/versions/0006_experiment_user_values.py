"""experiment user values: per-user metric values kept for reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VALUES = (
    "click_through_rate__yn",
    "click_through_rate__yd",
    "click_through_rate__xn",
    "click_through_rate__xd",
    "conversion__y",
    "conversion__x",
    "revenue_per_user__y",
    "revenue_per_user__x",
    "avg_session_duration__y",
    "avg_session_duration__x",
    "diversity__y",
    "freshness__y",
    "novelty__y",
    "serving_latency_ms__y",
)


def upgrade() -> None:
    op.create_table(
        "experiment_user_values",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        *(sa.Column(name, sa.Float(), nullable=True) for name in _VALUES),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("experiment_id", "user_id"),
    )
    op.create_table(
        "experiment_user_values_state",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pre_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_watermark", sa.BigInteger(), nullable=False),
        sa.Column("exposure_watermark", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("experiment_id"),
    )


def downgrade() -> None:
    op.drop_table("experiment_user_values_state")
    op.drop_table("experiment_user_values")
