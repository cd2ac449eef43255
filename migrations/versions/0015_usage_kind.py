"""What a usage event was for: a chat reply or embeddings for a knowledge base (embedding calls are metered too).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a server default (no batch copy): the rollup triggers on usageevent must survive.
    op.add_column("usageevent", sa.Column("kind", sa.String(16), nullable=False, server_default="chat"))


def downgrade() -> None:
    with op.batch_alter_table("usageevent", recreate="never") as batch:
        batch.drop_column("kind")
