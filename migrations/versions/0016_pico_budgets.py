"""Budgets counted in pico-dollars (exact for every price; micro-dollars lost each cheap call's fraction), and what a
streaming reply's call is, so a lost instance's call is charged once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACTOR = 1_000_000  # micro-dollars -> pico-dollars


def _scale(factor: int, divide: bool) -> None:
    conn = op.get_bind()
    op_sql = "/" if divide else "*"
    conn.execute(sa.text(f"UPDATE budgetcounter SET used = used {op_sql} {factor}, held = held {op_sql} {factor} "
                         "WHERE scope LIKE :dollars"), {"dollars": "%:usd"})
    rows = conn.execute(sa.text("SELECT id, parts FROM budgethold")).all()
    for hold_id, parts in rows:  # holds of calls in flight while upgrading: a handful at most
        stored = json.loads(parts)
        listed = stored["parts"] if isinstance(stored, dict) else stored
        for part in listed:
            if str(part[0]).endswith(":usd"):
                part[2] = part[2] // factor if divide else part[2] * factor
                part[3] = part[3] // factor if divide else part[3] * factor
        conn.execute(sa.text("UPDATE budgethold SET parts = :p WHERE id = :i"), {"p": json.dumps(stored), "i": hold_id})


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): message's full-text triggers must survive on SQLite.
    op.add_column("message", sa.Column("live_call", sa.Text(), nullable=True))
    _scale(FACTOR, divide=False)


def downgrade() -> None:
    _scale(FACTOR, divide=True)
    with op.batch_alter_table("message", recreate="never") as batch:
        batch.drop_column("live_call")
