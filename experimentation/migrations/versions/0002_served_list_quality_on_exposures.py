"""served list quality on exposures

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 16:26:40.442667
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category_entropy", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("fresh_share", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("mean_popularity_rank", sa.Float(), nullable=True)
        )
        batch_op.add_column(sa.Column("latency_ms", sa.Float(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_column("latency_ms")
        batch_op.drop_column("mean_popularity_rank")
        batch_op.drop_column("fresh_share")
        batch_op.drop_column("category_entropy")
