"""Per-user UI language and theme.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("userpreference") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default=""))
        batch.add_column(sa.Column("theme", sa.String(length=8), nullable=False, server_default="system"))


def downgrade() -> None:
    with op.batch_alter_table("userpreference") as batch:
        batch.drop_column("theme")
        batch.drop_column("language")
