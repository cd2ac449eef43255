"""Replies stored while they stream: when a reply's process last flushed it, and a partial index on the live ones.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STREAMING = sa.text("status = 'streaming'")


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): message's full-text triggers must survive on SQLite.
    op.add_column("message", sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_message_streaming", "message", ["flushed_at"], sqlite_where=STREAMING,
                    postgresql_where=STREAMING)


def downgrade() -> None:
    op.drop_index("ix_message_streaming", table_name="message")
    with op.batch_alter_table("message", recreate="never") as batch:
        batch.drop_column("flushed_at")
