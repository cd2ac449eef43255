"""Teams with shared budgets and model allow-lists; usage events and the daily rollups say which team paid.

The rollups gain team_id (0: no team) in their key, and the insert trigger fills it, so a dashboard filtered or
grouped by team reads the same thousands of rollup rows as before. Existing rows belong to no team.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of 0004's trigger pieces, with the team in the key.
TTFT_EDGES_MS = [25, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500,
                 10000, 15000, 20000, 30000, 60000]
HIST = [f"h{i:02d}" for i in range(len(TTFT_EDGES_MS) + 1)]
OLD_KEYS = ["day", "user_id", "provider", "model", "source"]
SUMS = ["requests", "refusals", "errors", "cache_hits", "tokens_in", "tokens_out", "cost_usd", *HIST]


def _hist_exprs(ev: str) -> list[str]:
    timed = f"{ev}.ttft_ms IS NOT NULL AND {ev}.status <> 'refused' AND NOT {ev}.cache_hit"
    exprs, low = [], None
    for high in [*TTFT_EDGES_MS, None]:
        cond = timed
        if low is not None:
            cond += f" AND {ev}.ttft_ms >= {low}"
        if high is not None:
            cond += f" AND {ev}.ttft_ms < {high}"
        exprs.append(f"CASE WHEN {cond} THEN 1 ELSE 0 END")
        low = high
    return exprs


def _keys(team: bool) -> list[str]:
    return OLD_KEYS + (["team_id"] if team else [])


def _key_values(ev: str, day: str, team: bool) -> list[str]:
    values = [day, f"{ev}.user_id", f"{ev}.provider", f"{ev}.model", f"{ev}.source"]
    return values + ([f"COALESCE({ev}.team_id, 0)"] if team else [])


def _upsert_daily(ev: str, day: str, team: bool) -> str:
    is_error = f"{ev}.status IN ('error', 'interrupted') AND COALESCE({ev}.error_kind, '') <> 'stopped'"
    values = [*_key_values(ev, day, team),
              f"CASE WHEN {ev}.status <> 'refused' THEN 1 ELSE 0 END",
              f"CASE WHEN {ev}.status = 'refused' THEN 1 ELSE 0 END",
              f"CASE WHEN {is_error} THEN 1 ELSE 0 END",
              f"CASE WHEN {ev}.cache_hit THEN 1 ELSE 0 END",
              f"{ev}.tokens_in", f"{ev}.tokens_out", f"{ev}.cost_usd", *_hist_exprs(ev)]
    updates = ", ".join(f"{c} = usagedaily.{c} + excluded.{c}" for c in SUMS)
    return (f"INSERT INTO usagedaily ({', '.join(_keys(team) + SUMS)}) VALUES ({', '.join(values)}) "
            f"ON CONFLICT ({', '.join(_keys(team))}) DO UPDATE SET {updates}")


def _upsert_error(ev: str, day: str, team: bool) -> str:
    return (f"INSERT INTO usagedailyerror ({', '.join(_keys(team))}, kind, n) "
            f"SELECT {', '.join(_key_values(ev, day, team))}, {ev}.error_kind, 1 "
            f"WHERE {ev}.status IN ('error', 'interrupted') AND {ev}.error_kind IS NOT NULL "
            f"AND {ev}.error_kind <> 'stopped' "
            f"ON CONFLICT ({', '.join(_keys(team))}, kind) DO UPDATE SET n = usagedailyerror.n + 1")


def _trigger(dialect: str, team: bool) -> None:
    day = "date(NEW.created_at)" if dialect == "sqlite" else "(NEW.created_at AT TIME ZONE 'UTC')::date"
    body = f"{_upsert_daily('NEW', day, team)}; {_upsert_error('NEW', day, team)};"
    if dialect == "sqlite":  # dropped by _drop_sqlite_trigger() before the rollup tables were rebuilt
        op.execute(f"CREATE TRIGGER usageevent_rollup AFTER INSERT ON usageevent BEGIN {body} END")
    else:  # the trigger calls the function by name: replacing the function is enough
        op.execute(f"CREATE OR REPLACE FUNCTION usageevent_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   f"{body} RETURN NULL; END $$")


def _drop_sqlite_trigger(dialect: str) -> None:
    """SQLite checks triggers when a rebuilt table is renamed into place: the trigger goes first, returns after."""
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS usageevent_rollup")


def _rekey(table: str, keys: list[str], team: bool) -> None:
    with op.batch_alter_table(table, recreate="always" if op.get_bind().dialect.name == "sqlite" else "auto") as b:
        b.drop_constraint(f"pk_{table}", type_="primary")
        if team:
            b.add_column(sa.Column("team_id", sa.Integer(), nullable=False, server_default="0"))
        else:
            b.drop_column("team_id")
        b.create_primary_key(f"pk_{table}", keys)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("budget_usd_per_month", sa.Float(), nullable=False),
        sa.Column("tokens_per_month", sa.Integer(), nullable=False),
        sa.Column("member_requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("member_requests_per_day", sa.Integer(), nullable=True),
        sa.Column("member_tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("member_budget_usd_per_month", sa.Float(), nullable=True),
        sa.Column("allowed_models", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
    )
    op.create_index(op.f("ix_team_name"), "team", ["name"], unique=True)
    op.create_table(
        "teammember",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_teammember_team_id_team")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_teammember_user_id_user")),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_teammember")),
    )
    op.create_index(op.f("ix_teammember_user_id"), "teammember", ["user_id"])
    # Plain ADD COLUMNs (no batch copy): usageevent's rollup trigger must survive on SQLite.
    op.add_column("usageevent", sa.Column("team_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_usageevent_team_id"), "usageevent", ["team_id"])
    op.add_column("apitoken", sa.Column("team_id", sa.Integer(), nullable=True))
    _drop_sqlite_trigger(dialect)
    _rekey("usagedaily", OLD_KEYS + ["team_id"], team=True)
    _rekey("usagedailyerror", OLD_KEYS + ["team_id", "kind"], team=True)
    _trigger(dialect, team=True)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _drop_sqlite_trigger(dialect)
    else:
        _trigger(dialect, team=False)
    # Rows that differ only by team are folded back together before the old key returns.
    for table, sums in (("usagedaily", SUMS), ("usagedailyerror", ["n"])):
        keys = OLD_KEYS + (["kind"] if table == "usagedailyerror" else [])
        op.execute(f"CREATE TABLE {table}_fold AS SELECT {', '.join(keys)}, "
                   f"{', '.join(f'SUM({c}) AS {c}' for c in sums)} FROM {table} GROUP BY {', '.join(keys)}")
        op.execute(f"DELETE FROM {table}")
        _rekey(table, keys, team=False)
        op.execute(f"INSERT INTO {table} ({', '.join(keys + sums)}) SELECT {', '.join(keys + sums)} FROM {table}_fold")
        op.execute(f"DROP TABLE {table}_fold")
    if dialect == "sqlite":
        _trigger(dialect, team=False)
    with op.batch_alter_table("apitoken", recreate="never") as batch:
        batch.drop_column("team_id")
    op.drop_index(op.f("ix_usageevent_team_id"), table_name="usageevent")
    with op.batch_alter_table("usageevent", recreate="never") as batch:
        batch.drop_column("team_id")
    op.drop_index(op.f("ix_teammember_user_id"), table_name="teammember")
    op.drop_table("teammember")
    op.drop_index(op.f("ix_team_name"), table_name="team")
    op.drop_table("team")
