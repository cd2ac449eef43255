"""The SQL building blocks of every usage view: the filter, the time bucket, the measures, and which table
answers (raw events for hourly views, the daily rollups kept by triggers for longer ones)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Integer, and_, case, cast, func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from core.models import TTFT_EDGES_MS, UsageDaily, UsageDailyError, UsageEvent

Bucket = Literal["hour", "day"]
EVENT = UsageEvent.__table__  # type: ignore[attr-defined]
DAILY = UsageDaily.__table__  # type: ignore[attr-defined]
DAILY_ERRORS = UsageDailyError.__table__  # type: ignore[attr-defined]
HIST = [f"h{i:02d}" for i in range(len(TTFT_EDGES_MS) + 1)]
ERROR_STATUSES = ("error", "interrupted")


@dataclass(frozen=True)
class UsageFilter:
    start: datetime
    end: datetime
    user_id: int | None = None
    model: str | None = None
    provider: str | None = None
    source: str | None = None
    team_id: int | None = None  # the team charged (0: requests charged to no team)

    @property
    def bucket(self) -> Bucket:
        """Hours (exact, from the events) up to two days; whole UTC days (from the rollups) beyond."""
        return "hour" if self.end - self.start <= timedelta(days=2) else "day"

    def days(self) -> tuple[date, date]:
        """The whole UTC days a daily view covers: [first, last + 1)."""
        first = self.start.astimezone(UTC).date()
        end = self.end.astimezone(UTC)
        last = end.date() if end.time() == time(0) else end.date() + timedelta(days=1)
        return first, last


def event_where(f: UsageFilter) -> ColumnElement[bool]:
    c = EVENT.c
    clauses = [c.created_at >= f.start, c.created_at < f.end]
    for column, value in ((c.user_id, f.user_id), (c.model, f.model), (c.provider, f.provider),
                          (c.source, f.source), (func.coalesce(c.team_id, 0), f.team_id)):
        if value is not None:
            clauses.append(column == value)
    return and_(*clauses)


def team_column(table: Any) -> ColumnElement[int]:
    """The charged team of an event (NULL: 0) or of a rollup row."""
    return func.coalesce(table.c.team_id, 0) if table is EVENT else table.c.team_id


def bucket_expr(dialect: str, size: Bucket) -> ColumnElement[Any]:
    """The UTC hour or day an event falls in, computed by the database."""
    created = EVENT.c.created_at
    if dialect == "postgresql":
        return func.date_trunc(size, func.timezone("UTC", created))
    fmt = "%Y-%m-%d %H:00:00" if size == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(fmt, created)  # SQLite stores UTC as text


def measures(daily: bool) -> list[Any]:
    """Requests, refusals, errors, cache hits, tokens and cost: counted from events or summed from rollups."""
    if daily:
        c = DAILY.c
        return [func.sum(c.requests).label("requests"), func.sum(c.refusals).label("refusals"),
                func.sum(c.errors).label("errors"), func.sum(c.cache_hits).label("cache_hits"),
                func.sum(c.tokens_in).label("tokens_in"), func.sum(c.tokens_out).label("tokens_out"),
                func.sum(c.cost_usd).label("cost")]
    c = EVENT.c
    is_error = c.status.in_(ERROR_STATUSES) & (func.coalesce(c.error_kind, "") != "stopped")
    return [func.sum(case((c.status != "refused", 1), else_=0)).label("requests"),
            func.sum(case((c.status == "refused", 1), else_=0)).label("refusals"),
            func.sum(case((is_error, 1), else_=0)).label("errors"),
            func.sum(cast(c.cache_hit, Integer)).label("cache_hits"),
            func.sum(c.tokens_in).label("tokens_in"), func.sum(c.tokens_out).label("tokens_out"),
            func.sum(c.cost_usd).label("cost")]


def source(session: Session, f: UsageFilter) -> tuple[Any, Any, ColumnElement[bool]]:
    """The table to read, its time bucket column and the filter: rollups for daily views, events for hourly."""
    if f.bucket == "day":
        return DAILY, DAILY.c.day, daily_where(f, DAILY)
    return EVENT, bucket_expr(session.get_bind().dialect.name, "hour"), event_where(f)

def daily_where(f: UsageFilter, table: Any) -> ColumnElement[bool]:
    first, last = f.days()
    clauses = [table.c.day >= first, table.c.day < last]
    for name in ("user_id", "model", "provider", "source", "team_id"):
        value = getattr(f, name)
        if value is not None:
            clauses.append(table.c[name] == value)
    return and_(*clauses)
