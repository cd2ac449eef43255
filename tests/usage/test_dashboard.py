"""Dashboard aggregates against a small hand-computed data set, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from core.errors import PermissionDenied
from core.models import UsageEvent, User
from core.usage import UsageFilter, dashboard, events_csv
from tests.conftest import add_user

DAY = datetime(2026, 11, 23, tzinfo=UTC)
RANGE = UsageFilter(start=DAY, end=DAY + timedelta(days=1))


def within(**kw: object) -> UsageFilter:
    return UsageFilter(RANGE.start, RANGE.end, **kw)  # type: ignore[arg-type]


def at(h: int, m: int = 0, s: int = 0, us: int = 0) -> datetime:
    return DAY + timedelta(hours=h, minutes=m, seconds=s, microseconds=us)


@pytest.fixture
def data(engine, session: Session) -> dict[str, int]:
    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    ids = {"admin": admin}
    for name in ("alice", "bob", "carol"):
        ids[name] = add_user(session, name)

    def ev(user: str, model: str, when: datetime, status: str = "complete", tin: int = 0, tout: int = 0,
           cost: float = 0.0, ttft: float | None = None, kind: str | None = None, cache: bool = False,
           source: str = "ui") -> UsageEvent:
        return UsageEvent(user_id=ids[user], provider={"gpt-4o": "openai", "claude": "anthropic"}.get(model, "local"),
                          model=model, created_at=when, status=status, tokens_in=tin, tokens_out=tout, cost_usd=cost,
                          ttft_ms=ttft, error_kind=kind, cache_hit=cache, source=source)

    session.add_all([
        ev("alice", "gpt-4o", at(10, 15), tin=100, tout=50, cost=0.01, ttft=100),
        ev("alice", "gpt-4o", at(10, 59, 59), tin=200, tout=100, cost=0.02, ttft=300),
        ev("bob", "claude", at(11), status="error", kind="unavailable"),
        ev("bob", "claude", at(11, 30), ttft=5, cache=True),
        ev("alice", "gpt-4o", at(11, 45), status="refused", kind="rate_limited"),
        ev("alice", "gpt-4o", at(12), status="interrupted", kind="stopped", tin=50, tout=5, ttft=400, source="api"),
        ev("carol", "local", at(23, 59, 59, 999_999), tin=10, tout=10, ttft=200),
        ev("carol", "local", at(24)),  # the next day: outside the range
        ev("carol", "local", at(-1)),  # the day before
    ])
    session.commit()
    return ids


def test_kpis_by_hand(data, session) -> None:
    k = dashboard(session=session, actor_id=data["admin"], filters=RANGE).kpis
    assert (k.requests, k.refusals, k.errors, k.cache_hits, k.active_users) == (6, 1, 1, 1, 3)
    assert (k.tokens_in, k.tokens_out) == (360, 165)
    assert k.cost_usd == pytest.approx(0.03)
    assert k.error_rate == pytest.approx(1 / 6) and k.cache_hit_rate == pytest.approx(1 / 6)
    # ttft of provider answers (cache hit excluded): 100, 200, 300, 400 -> nearest rank
    assert (k.ttft_p50_ms, k.ttft_p95_ms) == (200, 400)


def test_hourly_buckets_have_exact_edges(data, session) -> None:
    d = dashboard(session=session, actor_id=data["admin"], filters=RANGE)
    assert d.bucket == "hour"
    points = {(p["bucket"].hour, p["model"]): (p["requests"], p["tokens_in"]) for p in d.series}
    assert points == {(10, "gpt-4o"): (2, 300), (11, "claude"): (2, 0), (11, "gpt-4o"): (0, 0),
                      (12, "gpt-4o"): (1, 50), (23, "local"): (1, 10)}
    assert all(p["bucket"].tzinfo is not None for p in d.series)
    assert [(p["bucket"].hour, p["p50"], p["p95"]) for p in d.latency] == [
        (10, 100, 300), (12, 400, 400), (23, 200, 200)]
    assert [(e["bucket"].hour, e["kind"], e["count"]) for e in d.errors] == [(11, "unavailable", 1)]


def test_daily_buckets_for_longer_ranges(data, session) -> None:
    week = UsageFilter(start=DAY - timedelta(days=6), end=DAY + timedelta(days=1))
    d = dashboard(session=session, actor_id=data["admin"], filters=week)
    assert d.bucket == "day"
    days = sorted({p["bucket"] for p in d.series})
    assert days == [DAY - timedelta(days=1), DAY]


def test_buckets_are_utc_and_display_converts_to_local(data, session) -> None:
    d = dashboard(session=session, actor_id=data["admin"], filters=RANGE)
    first = d.series[0]["bucket"]
    assert first == at(10)
    assert first.astimezone(ZoneInfo("Asia/Seoul")).hour == 19


def test_cost_by_user_and_model_and_top_users(data, session) -> None:
    d = dashboard(session=session, actor_id=data["admin"], filters=RANGE)
    assert d.cost_by_user[0] == ("alice", pytest.approx(0.03))
    assert dict(d.cost_by_model) == {"gpt-4o": pytest.approx(0.03), "claude": 0, "local": 0}
    top = {u["user"]: u for u in d.top_users}
    assert (top["alice"]["requests"], top["alice"]["refusals"], top["alice"]["tokens"]) == (3, 1, 505)
    assert top["bob"]["errors"] == 1


def test_filters(data, session) -> None:
    bob = dashboard(session=session, actor_id=data["admin"], filters=within(user_id=data["bob"]))
    assert (bob.kpis.requests, bob.kpis.errors) == (2, 1)
    api = dashboard(session=session, actor_id=data["admin"], filters=within(source="api"))
    assert api.kpis.requests == 1
    local = dashboard(session=session, actor_id=data["admin"], filters=within(provider="local"))
    assert local.kpis.tokens_in == 10


def test_csv_of_filtered_events(data, session) -> None:
    text = events_csv(session=session, actor_id=data["admin"], filters=within(model="gpt-4o"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["status"] for r in rows] == ["interrupted", "refused", "complete", "complete"]  # newest first
    assert rows[-1]["created_at"] == "2026-11-23T10:15:00+00:00" and rows[-1]["user"] == "alice"
    assert rows[-1]["cost_usd"] == "0.01"


def test_non_admin_sees_only_their_own_usage(data, session) -> None:
    with pytest.raises(PermissionDenied):
        dashboard(session=session, actor_id=data["bob"], filters=RANGE)
    with pytest.raises(PermissionDenied):
        events_csv(session=session, actor_id=data["bob"], filters=within(user_id=data["alice"]))
    mine = dashboard(session=session, actor_id=data["bob"], filters=within(user_id=data["bob"]))
    assert mine.kpis.requests == 2


def test_daily_view_from_rollups_matches_the_events(data, session) -> None:
    week = UsageFilter(start=DAY - timedelta(days=6), end=DAY + timedelta(days=1))
    d = dashboard(session=session, actor_id=data["admin"], filters=week)
    k = d.kpis
    # the hand-computed day plus carol's event of the day before (a served request, no tokens)
    assert (k.requests, k.refusals, k.errors, k.cache_hits, k.active_users) == (7, 1, 1, 1, 3)
    assert (k.tokens_in, k.tokens_out) == (360, 165) and k.cost_usd == pytest.approx(0.03)
    assert d.approximate
    assert [(e["bucket"], e["kind"], e["count"]) for e in d.errors] == [(DAY, "unavailable", 1)]
    # exact p50 is 200 ms and p95 400 ms; the histogram buckets holding them are [200, 300) and [400, 500)
    assert 200 <= k.ttft_p50_ms < 300 and 400 <= k.ttft_p95_ms < 500


def test_histogram_percentile() -> None:
    from core.usage.rollups import histogram_percentile

    counts = [0] * 22
    counts[2] = 10  # ten answers in [50, 100) ms
    assert histogram_percentile(counts, 50) == pytest.approx(72.5)
    assert histogram_percentile(counts, 100) == pytest.approx(97.5)
    assert histogram_percentile([0] * 22, 50) is None
    counts[21] = 1000
    assert histogram_percentile(counts, 95) == 60000


def test_rollup_histogram_edges_match_the_migration() -> None:
    import importlib.util

    from core.config import PROJECT_ROOT
    from core.models import TTFT_EDGES_MS

    spec = importlib.util.spec_from_file_location("m0004", PROJECT_ROOT / "migrations/versions/0004_usage_rollups.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TTFT_EDGES_MS == TTFT_EDGES_MS
