"""Personal API tokens; usage events name the token that made an API request.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apitoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_apitoken_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apitoken")),
    )
    op.create_index(op.f("ix_apitoken_user_id"), "apitoken", ["user_id"])
    op.create_index(op.f("ix_apitoken_token_hash"), "apitoken", ["token_hash"], unique=True)
    # A plain ADD COLUMN (no batch copy): usageevent's rollup triggers must survive on SQLite.
    op.add_column("usageevent", sa.Column("token_name", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usageevent", recreate="never") as batch:
        batch.drop_column("token_name")
    op.drop_index(op.f("ix_apitoken_token_hash"), table_name="apitoken")
    op.drop_index(op.f("ix_apitoken_user_id"), table_name="apitoken")
    op.drop_table("apitoken")
