"""Usage aggregates behind the dashboards. Grouping, sums and percentiles run in SQL (SQLite and
PostgreSQL); Python only reshapes the grouped rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Integer, and_, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from core.models import TTFT_EDGES_MS, UsageDaily, UsageDailyError, UsageEvent, User, as_utc
from core.users import require_admin

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


@dataclass
class Kpis:
    requests: int = 0
    active_users: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    errors: int = 0
    refusals: int = 0
    cache_hits: int = 0
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0


@dataclass
class Dashboard:
    bucket: Bucket
    kpis: Kpis
    series: list[dict[str, Any]] = field(default_factory=list)  # bucket, model, requests, tokens_in, tokens_out
    cost_by_user: list[tuple[str, float]] = field(default_factory=list)
    cost_by_model: list[tuple[str, float]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)  # bucket, p50, p95
    errors: list[dict[str, Any]] = field(default_factory=list)  # bucket, kind, count
    top_users: list[dict[str, Any]] = field(default_factory=list)
    approximate: bool = False  # daily views: percentiles interpolated from the rollup histogram


def authorize(session: Session, actor_id: int, filters: UsageFilter) -> None:
    """Users may read their own usage; everything else is for admins (checked here, not only in the page)."""
    if filters.user_id != actor_id:
        require_admin(session=session, actor_id=actor_id)


def _where(f: UsageFilter) -> ColumnElement[bool]:
    c = EVENT.c
    clauses = [c.created_at >= f.start, c.created_at < f.end]
    for column, value in ((c.user_id, f.user_id), (c.model, f.model), (c.provider, f.provider),
                          (c.source, f.source)):
        if value is not None:
            clauses.append(column == value)
    return and_(*clauses)


def bucket_expr(dialect: str, size: Bucket) -> ColumnElement[Any]:
    """The UTC hour or day an event falls in, computed by the database."""
    created = EVENT.c.created_at
    if dialect == "postgresql":
        return func.date_trunc(size, func.timezone("UTC", created))
    fmt = "%Y-%m-%d %H:00:00" if size == "hour" else "%Y-%m-%d 00:00:00"
    return func.strftime(fmt, created)  # SQLite stores UTC as text


def _measures(daily: bool) -> list[Any]:
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


def _source(session: Session, f: UsageFilter) -> tuple[Any, Any, ColumnElement[bool]]:
    """The table to read, its time bucket column and the filter: rollups for daily views, events for hourly."""
    if f.bucket == "day":
        return DAILY, DAILY.c.day, _daily_where(f, DAILY)
    return EVENT, bucket_expr(session.get_bind().dialect.name, "hour"), _where(f)


def _by_user(session: Session, f: UsageFilter) -> list[Any]:
    table, _, where = _source(session, f)
    stmt = select(table.c.user_id, *_measures(table is DAILY)).where(where).group_by(table.c.user_id)
    return list(session.execute(stmt).all())


def _by_bucket_and_model(session: Session, f: UsageFilter) -> list[Any]:
    table, bucket, where = _source(session, f)
    stmt = (select(bucket.label("bucket"), table.c.model, *_measures(table is DAILY)).where(where)
            .group_by(bucket, table.c.model))
    return list(session.execute(stmt).all())


def _daily_where(f: UsageFilter, table: Any) -> ColumnElement[bool]:
    first, last = f.days()
    clauses = [table.c.day >= first, table.c.day < last]
    for name in ("user_id", "model", "provider", "source"):
        value = getattr(f, name)
        if value is not None:
            clauses.append(table.c[name] == value)
    return and_(*clauses)


def histogram_percentile(counts: list[int], percent: int) -> float | None:
    """A percentile interpolated inside the histogram bucket that holds the nearest rank."""
    total = sum(counts)
    if not total:
        return None
    rank = -(-total * percent // 100)
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            low = TTFT_EDGES_MS[i - 1] if i else 0
            if i >= len(TTFT_EDGES_MS):
                return float(low)  # open-ended last bucket: its lower edge
            # the middle of the rank's share of the bucket, assuming values spread evenly inside it
            return low + (TTFT_EDGES_MS[i] - low) * (rank - seen - 0.5) / n
        seen += n
    return None


def _percentiles_daily(session: Session, f: UsageFilter) -> tuple[list[dict[str, Any]], list[int]]:
    c = DAILY.c
    stmt = (select(c.day, *(func.sum(c[h]) for h in HIST)).where(_daily_where(f, DAILY)).group_by(c.day))
    per_day, overall = [], [0] * len(HIST)
    for day, *counts in session.execute(stmt).all():
        counts = [int(n or 0) for n in counts]
        overall = [a + b for a, b in zip(overall, counts, strict=True)]
        if sum(counts):
            per_day.append({"bucket": as_utc(day), "p50": histogram_percentile(counts, 50),
                            "p95": histogram_percentile(counts, 95)})
    return per_day, overall


def _errors_daily(session: Session, f: UsageFilter) -> list[dict[str, Any]]:
    c = DAILY_ERRORS.c
    stmt = (select(c.day, c.kind, func.sum(c.n)).where(_daily_where(f, DAILY_ERRORS)).group_by(c.day, c.kind))
    return [{"bucket": as_utc(d), "kind": k, "count": int(n)} for d, k, n in session.execute(stmt).all()]


def _percentiles(session: Session, f: UsageFilter, by_bucket: bool) -> list[Any]:
    """p50/p95 of time to first token (provider answers only), per bucket or overall, by window functions."""
    c = EVENT.c
    bucket = bucket_expr(session.get_bind().dialect.name, f.bucket) if by_bucket else literal_column("0")
    ranked = (
        select(
            bucket.label("bucket"), c.ttft_ms,
            func.row_number().over(partition_by=bucket, order_by=c.ttft_ms).label("rn"),
            func.count().over(partition_by=bucket).label("n"),
        )
        .where(_where(f), col(UsageEvent.ttft_ms).is_not(None), c.cache_hit.is_(False))
        .subquery()
    )

    def pick(percent: int) -> Any:
        # Nearest rank, ceil(n * p / 100), in integer arithmetic: the same on SQLite and PostgreSQL.
        rank = (ranked.c.n * percent + 99) // 100
        return func.max(case((ranked.c.rn == rank, ranked.c.ttft_ms)))

    stmt = select(ranked.c.bucket, pick(50).label("p50"), pick(95).label("p95")).group_by(ranked.c.bucket)
    return list(session.execute(stmt).all())


def _errors(session: Session, f: UsageFilter) -> list[dict[str, Any]]:
    c = EVENT.c
    bucket = bucket_expr(session.get_bind().dialect.name, f.bucket).label("bucket")
    stmt = (
        select(bucket, c.error_kind, func.count().label("n"))
        .where(_where(f), c.status.in_(ERROR_STATUSES), c.error_kind.is_not(None), c.error_kind != "stopped")
        .group_by(literal_column("bucket"), c.error_kind)
    )
    return [{"bucket": as_utc(b), "kind": k, "count": n} for b, k, n in session.execute(stmt).all()]


def dashboard(*, session: Session, actor_id: int, filters: UsageFilter) -> Dashboard:
    """Everything the monitoring page shows for one filter."""
    authorize(session, actor_id, filters)
    names: dict[int, str] = dict(session.execute(select(col(User.id), col(User.username))).all())  # type: ignore[arg-type]
    kpis, users = Kpis(), list[dict[str, Any]]()
    for r in _by_user(session, filters):
        kpis.requests += r.requests or 0
        kpis.refusals += r.refusals or 0
        kpis.errors += r.errors or 0
        kpis.cache_hits += r.cache_hits or 0
        kpis.tokens_in += r.tokens_in or 0
        kpis.tokens_out += r.tokens_out or 0
        kpis.cost_usd += r.cost or 0.0
        kpis.active_users += 1 if r.requests else 0
        users.append({"user": names.get(r.user_id, f"#{r.user_id}"), "requests": r.requests or 0,
                      "tokens": (r.tokens_in or 0) + (r.tokens_out or 0), "cost_usd": r.cost or 0.0,
                      "errors": r.errors or 0, "refusals": r.refusals or 0})
    series: list[dict[str, Any]] = []
    by_model: dict[str, float] = {}
    for r in _by_bucket_and_model(session, filters):
        series.append({"bucket": as_utc(r.bucket), "model": r.model, "requests": r.requests or 0,
                       "tokens_in": r.tokens_in or 0, "tokens_out": r.tokens_out or 0})
        by_model[r.model] = by_model.get(r.model, 0.0) + (r.cost or 0.0)
    daily = filters.bucket == "day"
    if daily:
        latency, histogram = _percentiles_daily(session, filters)
        kpis.ttft_p50_ms = histogram_percentile(histogram, 50)
        kpis.ttft_p95_ms = histogram_percentile(histogram, 95)
        errors = _errors_daily(session, filters)
    else:
        overall = _percentiles(session, filters, by_bucket=False)
        if overall:
            kpis.ttft_p50_ms, kpis.ttft_p95_ms = overall[0].p50, overall[0].p95
        latency = [{"bucket": as_utc(r.bucket), "p50": r.p50, "p95": r.p95}
                   for r in _percentiles(session, filters, by_bucket=True)]
        errors = _errors(session, filters)
    return Dashboard(
        bucket=filters.bucket, kpis=kpis, approximate=daily,
        series=sorted(series, key=lambda p: (p["bucket"], p["model"])),
        cost_by_user=sorted(((u["user"], u["cost_usd"]) for u in users), key=lambda kv: -kv[1]),
        cost_by_model=sorted(by_model.items(), key=lambda kv: -kv[1]),
        latency=sorted(latency, key=lambda p: p["bucket"]),
        errors=sorted(errors, key=lambda e: (e["bucket"], e["kind"])),
        top_users=sorted(users, key=lambda u: (-u["requests"], u["user"]))[:20],
    )


CSV_COLUMNS = ["created_at", "user", "source", "provider", "model", "status", "error_kind", "cache_hit",
               "tokens_in", "tokens_out", "cost_usd", "ttft_ms", "total_ms", "conversation_id"]


def events_csv(*, session: Session, actor_id: int, filters: UsageFilter, limit: int = 200_000) -> str:
    """The filtered events as CSV (UTC timestamps), newest first."""
    authorize(session, actor_id, filters)
    c = EVENT.c
    stmt = (
        select(c.created_at, col(User.username), c.source, c.provider, c.model, c.status, c.error_kind, c.cache_hit,
               c.tokens_in, c.tokens_out, c.cost_usd, c.ttft_ms, c.total_ms, c.conversation_id)
        .join(User, col(User.id) == c.user_id)
        .where(_where(filters))
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(limit)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in session.execute(stmt):
        writer.writerow([as_utc(row[0]).isoformat(), *row[1:]])
    return out.getvalue()
