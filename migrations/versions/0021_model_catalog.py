"""The model catalog admins manage (Admin → Models): their settings per model over config.yaml's, the models
providers' servers were found to offer, and each provider's last discovery.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogmodel",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="chat"),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("display_name", sa.String(length=80), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("context_window", sa.Integer(), nullable=True),
        sa.Column("max_output", sa.Integer(), nullable=True),
        sa.Column("vision", sa.Boolean(), nullable=True),
        sa.Column("tools", sa.Boolean(), nullable=True),
        sa.Column("json_mode", sa.Boolean(), nullable=True),
        sa.Column("default_temperature", sa.Float(), nullable=True),
        sa.Column("default_max_tokens", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["user.id"], name=op.f("fk_catalogmodel_updated_by_user")),
        sa.PrimaryKeyConstraint("provider", "model", name=op.f("pk_catalogmodel")),
    )
    op.create_table(
        "discoveryrun",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("found", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("added", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["started_by"], ["user.id"], name=op.f("fk_discoveryrun_started_by_user")),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_discoveryrun")),
    )


def downgrade() -> None:
    op.drop_table("discoveryrun")
    op.drop_table("catalogmodel")
