"""Admins' price overrides per model, and usage events' input tokens read from a provider's prompt cache.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "priceoverride",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("price_in", sa.Float(), nullable=False),
        sa.Column("price_out", sa.Float(), nullable=False),
        sa.Column("price_cached_in", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["user.id"], name=op.f("fk_priceoverride_updated_by_user")),
        sa.PrimaryKeyConstraint("provider", "model", name=op.f("pk_priceoverride")),
    )
    # A plain ADD COLUMN (no batch copy): usageevent's rollup trigger must survive on SQLite.
    op.add_column("usageevent", sa.Column("tokens_cached", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usageevent", recreate="never") as batch:
        batch.drop_column("tokens_cached")
    op.drop_table("priceoverride")
