"""Limits: exact boundaries, resets on an injected clock, isolation, concurrency, Redis across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

import limits.storage.memory as limits_memory
import pytest
from sqlmodel import Session, select

from core.accounts import audit_log
from core.chat import ConversationManager, TurnOptions
from core.config import PROJECT_ROOT, LimitDefaults, LimitsSettings, Settings, get_settings
from core.errors import PermissionDenied, RateLimited, ValidationError
from core.models import LimitPolicyUpdate, Message, UsageEvent, User
from core.usage import RateLimitService, clear_user_limits, get_user_limits, set_user_limits
from tests.conftest import REDIS_URL, add_user
from tests.fakes.fake_provider import FakeProvider

START = datetime(2026, 11, 24, 12, 0, 30, tzinfo=UTC).timestamp()


class FakeClock:
    """Stands in for time.time() in the limiter's memory storage and in our service."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(limits_memory, "time", fake)
    return fake


def _settings(**user_limits: float) -> Settings:
    defaults = LimitDefaults(requests_per_minute=0, requests_per_day=0, tokens_per_day=0, budget_usd_per_month=0)
    return get_settings().model_copy(update={"limits": LimitsSettings(
        user=defaults.model_copy(update=user_limits), admin=defaults.model_copy(update=user_limits))})


def _user(session: Session, name: str) -> int:
    return add_user(session, name)


def _hits(service: RateLimitService, session: Session, user_id: int, n: int) -> int:
    ok = 0
    for _ in range(n):
        try:
            service.check_and_consume(session, user_id)
            ok += 1
        except RateLimited:
            pass
    return ok


def test_exact_boundary_and_retry_time(engine, session, clock) -> None:
    service = RateLimitService(_settings(requests_per_minute=3), clock=clock)
    uid = _user(session, "ann")
    assert _hits(service, session, uid, 3) == 3
    with pytest.raises(RateLimited) as info:
        service.check_and_consume(session, uid)
    assert info.value.retry_after_seconds == 60
    assert "3 requests per minute" in info.value.user_message and "12:01:30 UTC" in info.value.user_message


def test_window_resets_on_the_clock_without_sleeping(engine, session, clock) -> None:
    service = RateLimitService(_settings(requests_per_minute=2), clock=clock)
    uid = _user(session, "ann")
    assert _hits(service, session, uid, 3) == 2
    clock.advance(59)
    assert _hits(service, session, uid, 1) == 0
    clock.advance(2)
    assert _hits(service, session, uid, 3) == 2


def test_daily_request_limit(engine, session, clock) -> None:
    service = RateLimitService(_settings(requests_per_minute=100, requests_per_day=5), clock=clock)
    uid = _user(session, "ann")
    for _ in range(5):
        assert _hits(service, session, uid, 1) == 1
        clock.advance(61)
    with pytest.raises(RateLimited, match="5 requests per day"):
        service.check_and_consume(session, uid)


def test_users_are_isolated(engine, session, clock) -> None:
    service = RateLimitService(_settings(requests_per_minute=2), clock=clock)
    a, b = _user(session, "ann"), _user(session, "bob")
    assert _hits(service, session, a, 5) == 2
    assert _hits(service, session, b, 5) == 2


def _concurrent_hits(service: RateLimitService, engine, user_id: int, threads: int) -> int:  # type: ignore[no-untyped-def]
    results: list[bool] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        with Session(engine) as own:
            barrier.wait()
            try:
                service.check_and_consume(own, user_id)
                results.append(True)
            except RateLimited:
                results.append(False)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(results)


def test_fifty_threads_never_exceed_the_limit(engine, session) -> None:
    service = RateLimitService(_settings(requests_per_minute=10))
    assert _concurrent_hits(service, engine, _user(session, "ann"), 50) == 10


@pytest.mark.skipif(not REDIS_URL, reason="PARLEY_TEST_REDIS_URL not set")
def test_fifty_threads_never_exceed_the_limit_on_redis(engine, session) -> None:
    service = RateLimitService(_settings(requests_per_minute=10), storage_uri_override=REDIS_URL)
    service.limiter.storage.reset()
    assert _concurrent_hits(service, engine, _user(session, f"r{uuid.uuid4().hex[:6]}"), 50) == 10


WORKER = """
import sys
from sqlmodel import Session
from core.db import get_engine
from core.errors import RateLimited
from core.usage import RateLimitService
service = RateLimitService(storage_uri_override=sys.argv[1])
ok = 0
with Session(get_engine()) as session:
    for _ in range(20):
        try:
            service.check_and_consume(session, int(sys.argv[2]))
            ok += 1
        except RateLimited:
            pass
print(ok)
"""


@pytest.mark.skipif(not REDIS_URL, reason="PARLEY_TEST_REDIS_URL not set")
def test_two_processes_share_limits_through_redis(engine, session, monkeypatch) -> None:
    uid = _user(session, f"p{uuid.uuid4().hex[:6]}")
    RateLimitService(_settings(), storage_uri_override=REDIS_URL).limiter.storage.reset()
    monkeypatch.setenv("PARLEY_LIMITS__USER__REQUESTS_PER_MINUTE", "15")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, REDIS_URL, str(uid)], stdout=subprocess.PIPE,
                              cwd=PROJECT_ROOT, text=True) for _ in range(2)]
    counts = [int(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert sum(counts) == 15  # 40 attempts from two processes, exactly 15 slots


def _spend(session: Session, user_id: int, *, tokens: int = 0, cost: float = 0.0, when: datetime) -> None:
    session.add(UsageEvent(user_id=user_id, provider="openai", model="gpt-4o", tokens_in=tokens, tokens_out=0,
                           cost_usd=cost, status="complete", created_at=when))
    session.commit()


def _hold(service: RateLimitService, session: Session, user_id: int, *, provider: str = "openai",
          model: str = "gpt-4o", max_tokens: int = 1000) -> None:
    limits, exempt = service.limits_for(session, user_id)
    service.budgets.reserve(user_id=user_id, limits=limits, exempt=exempt, provider=provider, model=model,
                            prompt_tokens=10, max_tokens=max_tokens)


def test_monthly_budget_exhaustion_says_when_it_renews(engine, session, clock) -> None:
    service = RateLimitService(_settings(budget_usd_per_month=10.0), clock=clock)
    uid = _user(session, "ann")
    now = datetime.fromtimestamp(clock.now, UTC)
    _spend(session, uid, cost=4.0, when=now.replace(day=1) - timedelta(days=1))  # last month: not counted
    _spend(session, uid, cost=9.98, when=now - timedelta(hours=1))
    _hold(service, session, uid)  # $0.010025 fits in the $0.02 left
    with pytest.raises(RateLimited) as info:
        _hold(service, session, uid)
    assert "of your $10.00 budget" in info.value.user_message and "2026-12-01 00:00 UTC" in info.value.user_message


def test_daily_tokens_reset_at_utc_midnight(engine, session, clock) -> None:
    service = RateLimitService(_settings(tokens_per_day=1000), clock=clock)
    uid = _user(session, "ann")
    _spend(session, uid, tokens=990, when=datetime.fromtimestamp(clock.now, UTC))
    with pytest.raises(RateLimited, match="1,000 tokens"):
        _hold(service, session, uid, provider="local", model="smollm2-135m-instruct", max_tokens=100)
    clock.advance(12 * 3600)  # past midnight UTC: a new day's counter
    _hold(service, session, uid, provider="local", model="smollm2-135m-instruct", max_tokens=100)


def test_quota_summary_for_the_chat(engine, session, clock) -> None:
    service = RateLimitService(_settings(requests_per_minute=20, tokens_per_day=50_000, budget_usd_per_month=10),
                               clock=clock)
    uid = _user(session, "ann")
    _spend(session, uid, tokens=9_000, cost=3.2, when=datetime.fromtimestamp(clock.now, UTC))
    _hits(service, session, uid, 8)
    assert service.quota(session, uid).summary() == (
        "12 of 20 requests left this minute · 41k tokens left today · $3.20 of $10.00 this month")


def test_admins_exempt_switch(engine, session, clock) -> None:
    settings = _settings(requests_per_minute=1)
    exempt = settings.model_copy(update={"limits": settings.limits.model_copy(update={"admins_exempt": True})})
    admin_id = session.exec(select(User.id).where(User.username == "admin")).one()
    assert _hits(RateLimitService(exempt, clock=clock), session, admin_id, 5) == 5
    assert _hits(RateLimitService(settings, clock=clock), session, admin_id, 5) == 1


def test_admin_override_per_user_is_audited_and_applies(engine, session, clock) -> None:
    admin_id = session.exec(select(User.id).where(User.username == "admin")).one()
    uid = _user(session, "ann")
    set_user_limits(session=session, actor_id=admin_id, user_id=uid,
                    limits_in=LimitPolicyUpdate(requests_per_minute=2))
    service = RateLimitService(_settings(requests_per_minute=50), clock=clock)
    assert _hits(service, session, uid, 5) == 2
    assert get_user_limits(session=session, actor_id=admin_id, user_id=uid).requests_per_minute == 2
    clear_user_limits(session=session, actor_id=admin_id, user_id=uid)
    assert [e.action for e in audit_log(session=session, actor_id=admin_id)][:2] == ["limits.clear", "limits.set"]
    with pytest.raises(ValidationError):
        set_user_limits(session=session, actor_id=admin_id, user_id=uid,
                        limits_in=LimitPolicyUpdate(tokens_per_day=-1))
    with pytest.raises(ValidationError, match="at most 2,000,000,000"):  # the column is 32-bit on PostgreSQL
        set_user_limits(session=session, actor_id=admin_id, user_id=uid,
                        limits_in=LimitPolicyUpdate(tokens_per_day=10**12))
    with pytest.raises(PermissionDenied):
        set_user_limits(session=session, actor_id=uid, user_id=uid, limits_in=LimitPolicyUpdate())


def test_refused_turn_calls_no_provider_and_stores_nothing(engine, session, clock) -> None:
    provider = FakeProvider("fake", "m")
    manager = ConversationManager(engine=engine, settings=_settings(requests_per_minute=1),
                                  provider_factory=lambda _name, _uid: provider,
                                  limiter=RateLimitService(_settings(requests_per_minute=1), clock=clock))
    uid = _user(session, "ann")
    options = TurnOptions(provider="fake", model="m")
    turn = manager.send(user_id=uid, conversation_id=None, text="first", options=options)
    list(turn.deltas())
    turn.close()
    with pytest.raises(RateLimited):
        manager.send(user_id=uid, conversation_id=turn.conversation_id, text="second", options=options)
    assert len(provider.history) == 1
    assert [m.content for m in session.exec(select(Message))] == ["first", "ok"]
    refused = session.exec(select(UsageEvent).where(UsageEvent.status == "refused")).one()
    assert (refused.error_kind, refused.cost_usd, refused.user_id) == ("rate_limited", 0.0, uid)
