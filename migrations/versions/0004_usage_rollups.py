"""Daily usage rollups kept by triggers, so dashboards over weeks read thousands of rows, not millions.

usagedaily: one row per UTC day, user, provider, model and source with counts, sums and a histogram
of time to first token (h00..h21, upper edges in TTFT_EDGES_MS). usagedailyerror: errors per kind.
Usage events are append-only, so insert triggers are all that is needed. Existing events are rolled up.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Upper edges (ms) of the first 21 histogram buckets; h21 holds everything slower. Must equal
# core.models.TTFT_EDGES_MS (a test checks).
TTFT_EDGES_MS = [25, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500,
                 10000, 15000, 20000, 30000, 60000]
HIST = [f"h{i:02d}" for i in range(len(TTFT_EDGES_MS) + 1)]
KEYS = ["day", "user_id", "provider", "model", "source"]
SUMS = ["requests", "refusals", "errors", "cache_hits", "tokens_in", "tokens_out", "cost_usd", *HIST]
ERROR_KINDS_SKIPPED = "'stopped'"


def _hist_exprs(ev: str) -> list[str]:
    timed = f"{ev}.ttft_ms IS NOT NULL AND {ev}.status <> 'refused' AND NOT {ev}.cache_hit"
    exprs, low = [], None
    for i, high in enumerate([*TTFT_EDGES_MS, None]):
        cond = timed
        if low is not None:
            cond += f" AND {ev}.ttft_ms >= {low}"
        if high is not None:
            cond += f" AND {ev}.ttft_ms < {high}"
        exprs.append(f"CASE WHEN {cond} THEN 1 ELSE 0 END")
        low = high
        del i
    return exprs


def _values(ev: str, day: str) -> list[str]:
    is_error = f"{ev}.status IN ('error', 'interrupted') AND COALESCE({ev}.error_kind, '') <> 'stopped'"
    return [day, f"{ev}.user_id", f"{ev}.provider", f"{ev}.model", f"{ev}.source",
            f"CASE WHEN {ev}.status <> 'refused' THEN 1 ELSE 0 END",
            f"CASE WHEN {ev}.status = 'refused' THEN 1 ELSE 0 END",
            f"CASE WHEN {is_error} THEN 1 ELSE 0 END",
            f"CASE WHEN {ev}.cache_hit THEN 1 ELSE 0 END",
            f"{ev}.tokens_in", f"{ev}.tokens_out", f"{ev}.cost_usd", *_hist_exprs(ev)]


def _upsert_daily(ev: str, day: str) -> str:
    updates = ", ".join(f"{c} = usagedaily.{c} + excluded.{c}" for c in SUMS)
    return (f"INSERT INTO usagedaily ({', '.join(KEYS + SUMS)}) VALUES ({', '.join(_values(ev, day))}) "
            f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {updates}")


def _upsert_error(ev: str, day: str) -> str:
    return (f"INSERT INTO usagedailyerror ({', '.join(KEYS)}, kind, n) "
            f"SELECT {day}, {ev}.user_id, {ev}.provider, {ev}.model, {ev}.source, {ev}.error_kind, 1 "
            f"WHERE {ev}.status IN ('error', 'interrupted') AND {ev}.error_kind IS NOT NULL "
            f"AND {ev}.error_kind <> {ERROR_KINDS_SKIPPED} "
            f"ON CONFLICT ({', '.join(KEYS)}, kind) DO UPDATE SET n = usagedailyerror.n + 1")


def _day(dialect: str, ev: str) -> str:
    return f"date({ev}.created_at)" if dialect == "sqlite" else f"({ev}.created_at AT TIME ZONE 'UTC')::date"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    def key_columns() -> list[sa.Column]:  # type: ignore[type-arg]
        return [
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("provider", sa.String(length=64), nullable=False),
            sa.Column("model", sa.String(length=128), nullable=False),
            sa.Column("source", sa.String(length=8), nullable=False),
        ]

    op.create_table(
        "usagedaily",
        *key_columns(),
        *(sa.Column(c, sa.Integer(), nullable=False, server_default="0") for c in SUMS if c != "cost_usd"),
        sa.Column("cost_usd", sa.Float(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(*KEYS, name=op.f("pk_usagedaily")),
    )
    op.create_table(
        "usagedailyerror",
        *key_columns(),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(*KEYS, "kind", name=op.f("pk_usagedailyerror")),
    )
    if dialect == "sqlite":
        op.execute(f"CREATE TRIGGER usageevent_rollup AFTER INSERT ON usageevent BEGIN "
                   f"{_upsert_daily('NEW', _day(dialect, 'NEW'))}; {_upsert_error('NEW', _day(dialect, 'NEW'))}; END")
    else:
        op.execute(f"CREATE FUNCTION usageevent_rollup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   f"{_upsert_daily('NEW', _day(dialect, 'NEW'))}; {_upsert_error('NEW', _day(dialect, 'NEW'))}; "
                   f"RETURN NULL; END $$")
        op.execute("CREATE TRIGGER usageevent_rollup AFTER INSERT ON usageevent "
                   "FOR EACH ROW EXECUTE FUNCTION usageevent_rollup()")
    _backfill(dialect)


def _backfill(dialect: str) -> None:
    day = _day(dialect, "e")
    values = _values("e", day)
    sums = ", ".join(f"SUM({v})" if i >= len(KEYS) else v for i, v in enumerate(values))
    op.execute(f"INSERT INTO usagedaily ({', '.join(KEYS + SUMS)}) SELECT {sums} FROM usageevent e "
               f"GROUP BY {day}, e.user_id, e.provider, e.model, e.source")
    op.execute(f"INSERT INTO usagedailyerror ({', '.join(KEYS)}, kind, n) "
               f"SELECT {day}, e.user_id, e.provider, e.model, e.source, e.error_kind, COUNT(*) FROM usageevent e "
               f"WHERE e.status IN ('error', 'interrupted') AND e.error_kind IS NOT NULL "
               f"AND e.error_kind <> {ERROR_KINDS_SKIPPED} "
               f"GROUP BY {day}, e.user_id, e.provider, e.model, e.source, e.error_kind")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS usageevent_rollup" + ("" if op.get_bind().dialect.name == "sqlite"
                                                            else " ON usageevent"))
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS usageevent_rollup()")
    op.drop_table("usagedailyerror")
    op.drop_table("usagedaily")
