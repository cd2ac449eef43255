"""Budgets reserved before each call: counters per budget and period, holds for calls in flight; usage events
say whether their tokens were estimated and which hold they settled.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budgetcounter",
        sa.Column("scope", sa.String(length=48), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name=op.f("pk_budgetcounter")),
    )
    op.create_table(
        "budgethold",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("parts", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgethold")),
    )
    op.create_index(op.f("ix_budgethold_user_id"), "budgethold", ["user_id"])
    op.create_index(op.f("ix_budgethold_expires_at"), "budgethold", ["expires_at"])
    # Plain ADD COLUMNs (no batch copy): usageevent's rollup triggers must survive on SQLite.
    op.add_column("usageevent", sa.Column("estimated", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("usageevent", sa.Column("hold_id", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_usageevent_hold_id"), "usageevent", ["hold_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_usageevent_hold_id"), table_name="usageevent")
    with op.batch_alter_table("usageevent", recreate="never") as batch:
        batch.drop_column("hold_id")
        batch.drop_column("estimated")
    op.drop_index(op.f("ix_budgethold_expires_at"), table_name="budgethold")
    op.drop_index(op.f("ix_budgethold_user_id"), table_name="budgethold")
    op.drop_table("budgethold")
    op.drop_table("budgetcounter")
