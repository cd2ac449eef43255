"""Encrypted provider keys (per user and per organisation) and organisation switches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "providercredential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("key_version", sa.String(length=32), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_check_status", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], name=op.f("fk_providercredential_owner_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providercredential")),
    )
    op.create_index(op.f("ix_providercredential_owner_id"), "providercredential", ["owner_id"])
    # One key per provider for each user, and one for the organisation (owner_id NULL).
    op.create_index("uq_providercredential_owner_provider", "providercredential", ["owner_id", "provider"],
                    unique=True, sqlite_where=sa.text("owner_id IS NOT NULL"),
                    postgresql_where=sa.text("owner_id IS NOT NULL"))
    op.create_index("uq_providercredential_org_provider", "providercredential", ["provider"], unique=True,
                    sqlite_where=sa.text("owner_id IS NULL"), postgresql_where=sa.text("owner_id IS NULL"))
    op.create_table(
        "orgsetting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["user.id"], name=op.f("fk_orgsetting_updated_by_user")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_orgsetting")),
    )


def downgrade() -> None:
    op.drop_table("orgsetting")
    op.drop_index("uq_providercredential_org_provider", table_name="providercredential")
    op.drop_index("uq_providercredential_owner_provider", table_name="providercredential")
    op.drop_index(op.f("ix_providercredential_owner_id"), table_name="providercredential")
    op.drop_table("providercredential")
