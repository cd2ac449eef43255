"""Usage aggregates behind the dashboards. Grouping, sums and percentiles run in SQL (SQLite and
PostgreSQL); Python only reshapes the grouped rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlmodel import Session, col

from core.accounts import require_admin
from core.models import Team, UsageEvent, User, as_utc
from core.usage.query import (
    DAILY,
    ERROR_STATUSES,
    EVENT,
    Bucket,
    UsageFilter,
    bucket_expr,
    event_where,
    measures,
    source,
    team_column,
)
from core.usage.rollups import errors_daily, histogram_percentile, percentiles_daily


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
    cost_by_team: list[dict[str, Any]] = field(default_factory=list)  # bucket, team ("" for none), cost
    approximate: bool = False  # daily views: percentiles interpolated from the rollup histogram


def authorize(session: Session, actor_id: int, filters: UsageFilter) -> None:
    """Users may read their own usage; everything else is for admins (checked here, not only in the page)."""
    if filters.user_id != actor_id:
        require_admin(session=session, actor_id=actor_id)

def _by_user(session: Session, f: UsageFilter) -> list[Any]:
    table, _, where = source(session, f)
    stmt = select(table.c.user_id, *measures(table is DAILY)).where(where).group_by(table.c.user_id)
    return list(session.execute(stmt).all())


def _by_bucket_model_and_team(session: Session, f: UsageFilter) -> list[Any]:
    """One scan for the series by model and the cost by team (a few thousand groups, reshaped in Python)."""
    table, bucket, where = source(session, f)
    team = team_column(table)
    stmt = (select(bucket.label("bucket"), table.c.model, team.label("team_id"), *measures(table is DAILY))
            .where(where).group_by(bucket, table.c.model, team))
    return list(session.execute(stmt).all())


def team_names(session: Session) -> dict[int, str]:
    """Team ids to names; a deleted team shows as "#id", usage charged to no team as ""."""
    return {0: "", **dict(session.execute(select(col(Team.id), col(Team.name))).all())}  # type: ignore[arg-type]


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
        .where(event_where(f), col(UsageEvent.ttft_ms).is_not(None), c.cache_hit.is_(False))
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
        .where(event_where(f), c.status.in_(ERROR_STATUSES), c.error_kind.is_not(None), c.error_kind != "stopped")
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
    series: dict[tuple[Any, str], dict[str, Any]] = {}
    by_model: dict[str, float] = {}
    by_team: dict[tuple[Any, int], float] = {}
    for r in _by_bucket_model_and_team(session, filters):
        point = series.setdefault((r.bucket, r.model), {"bucket": as_utc(r.bucket), "model": r.model, "requests": 0,
                                                        "tokens_in": 0, "tokens_out": 0})
        point["requests"] += r.requests or 0
        point["tokens_in"] += r.tokens_in or 0
        point["tokens_out"] += r.tokens_out or 0
        by_model[r.model] = by_model.get(r.model, 0.0) + (r.cost or 0.0)
        by_team[(r.bucket, r.team_id)] = by_team.get((r.bucket, r.team_id), 0.0) + (r.cost or 0.0)
    teams = team_names(session)
    daily = filters.bucket == "day"
    if daily:
        latency, histogram = percentiles_daily(session, filters)
        kpis.ttft_p50_ms = histogram_percentile(histogram, 50)
        kpis.ttft_p95_ms = histogram_percentile(histogram, 95)
        errors = errors_daily(session, filters)
    else:
        overall = _percentiles(session, filters, by_bucket=False)
        if overall:
            kpis.ttft_p50_ms, kpis.ttft_p95_ms = overall[0].p50, overall[0].p95
        latency = [{"bucket": as_utc(r.bucket), "p50": r.p50, "p95": r.p95}
                   for r in _percentiles(session, filters, by_bucket=True)]
        errors = _errors(session, filters)
    return Dashboard(
        bucket=filters.bucket, kpis=kpis, approximate=daily,
        series=sorted(series.values(), key=lambda p: (p["bucket"], p["model"])),
        cost_by_user=sorted(((u["user"], u["cost_usd"]) for u in users), key=lambda kv: -kv[1]),
        cost_by_model=sorted(by_model.items(), key=lambda kv: -kv[1]),
        latency=sorted(latency, key=lambda p: p["bucket"]),
        errors=sorted(errors, key=lambda e: (e["bucket"], e["kind"])),
        top_users=sorted(users, key=lambda u: (-u["requests"], u["user"]))[:20],
        cost_by_team=sorted(({"bucket": as_utc(b), "team": teams.get(t, f"#{t}"), "cost": c}
                             for (b, t), c in by_team.items()), key=lambda p: (p["bucket"], p["team"])),
    )
