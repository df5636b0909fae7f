"""traffic share for ramping

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:37:25.818983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("traffic", sa.Float(), server_default="1", nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("traffic")
