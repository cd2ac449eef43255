"""Per-user limit overrides, cache hits in usage, and the index behind per-user usage sums.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limitpolicy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("requests_per_day", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("budget_usd_per_month", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_limitpolicy_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limitpolicy")),
    )
    op.create_index(op.f("ix_limitpolicy_user_id"), "limitpolicy", ["user_id"], unique=True)
    with op.batch_alter_table("usageevent") as batch:
        batch.add_column(sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_usageevent_user_id_created_at", "usageevent", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_usageevent_user_id_created_at", table_name="usageevent")
    with op.batch_alter_table("usageevent") as batch:
        batch.drop_column("cache_hit")
    op.drop_table("limitpolicy")
