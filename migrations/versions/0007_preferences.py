"""Per-user chat defaults and named system-prompt presets.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "userpreference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("default_provider", sa.String(length=64), nullable=False),
        sa.Column("default_model", sa.String(length=128), nullable=False),
        sa.Column("default_system_prompt", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_userpreference_user_id_user")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_userpreference")),
    )
    op.create_table(
        "promptpreset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_promptpreset_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promptpreset")),
        sa.UniqueConstraint("user_id", "name", name="uq_promptpreset_user_id_name"),
    )
    op.create_index(op.f("ix_promptpreset_user_id"), "promptpreset", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_promptpreset_user_id"), table_name="promptpreset")
    op.drop_table("promptpreset")
    op.drop_table("userpreference")
