"""Response cache: hit, miss, expiry, LRU, per-user keys, usage recorded as a cache hit, Redis."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import col, select

from core.accounts import create_user
from core.chat import ConversationManager, TurnOptions
from core.chat.cache import CachedReply, MemoryBackend, RedisBackend, ResponseCache, cache_key
from core.config import ModelInfo, ProviderCatalog, get_settings
from core.models import UsageEvent, User, UserCreate
from core.providers.base import ChatMessage, ChatRequest, Usage
from tests.conftest import REDIS_URL
from tests.fakes.fake_provider import FakeProvider

REQUEST = ChatRequest(model="m", messages=[ChatMessage("user", "hi")], temperature=0.0)


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_cache_hit_miss_and_expiry() -> None:
    clock = Ticker()
    cache = ResponseCache(MemoryBackend(10, clock), ttl_seconds=60)
    key = cache_key(1, "p", REQUEST)
    assert cache.get(key) is None
    cache.put(key, CachedReply("hello", "m", 3, 1))
    assert cache.get(key) == CachedReply("hello", "m", 3, 1)
    clock.now += 61
    assert cache.get(key) is None


def test_memory_cache_evicts_least_recently_used() -> None:
    backend = MemoryBackend(2, Ticker())
    backend.set("a", "1", 60)
    backend.set("b", "2", 60)
    backend.get("a")
    backend.set("c", "3", 60)
    assert (backend.get("a"), backend.get("b"), backend.get("c")) == ("1", None, "3")


def test_key_depends_on_user_and_every_parameter() -> None:
    keys = {
        cache_key(1, "p", REQUEST), cache_key(2, "p", REQUEST), cache_key(1, "q", REQUEST),
        cache_key(1, "p", ChatRequest(model="m", messages=[ChatMessage("user", "hi")], system="s", temperature=0)),
        cache_key(1, "p", ChatRequest(model="m", messages=[ChatMessage("user", "hi")], max_tokens=9, temperature=0)),
    }
    assert len(keys) == 5


def test_only_deterministic_requests_are_cached() -> None:
    cache = ResponseCache(MemoryBackend(10), ttl_seconds=60)
    assert cache.applies(REQUEST)
    assert not cache.applies(ChatRequest(model="m", messages=[], temperature=0.7))
    assert not ResponseCache(MemoryBackend(10), 60, enabled=False).applies(REQUEST)


@pytest.fixture
def setup(engine, session):  # type: ignore[no-untyped-def]
    provider = FakeProvider("fake", "m")
    settings = get_settings().model_copy(update={"providers": {"fake": ProviderCatalog(
        models={"m": ModelInfo(price_in=1.0, price_out=1.0)})}})
    manager = ConversationManager(engine=engine, settings=settings,
                                  provider_factory=lambda _name, _uid: provider,
                                  cache=ResponseCache(MemoryBackend(100), ttl_seconds=60))
    admin_id = session.exec(select(User.id).where(User.username == "admin")).one()
    other = create_user(session=session, actor_id=admin_id, user_in=UserCreate(
        username="bea", email="bea@example.com", display_name="Bea", password="Bea-pass-1234"))
    return manager, provider, admin_id, other.id


def _ask(manager: ConversationManager, user_id: int, temperature: float = 0.0) -> str:
    turn = manager.send(user_id=user_id, conversation_id=None, text="What is Parley?",
                        options=TurnOptions(provider="fake", model="m", temperature=temperature))
    text = "".join(turn.deltas())
    turn.close()
    return text


def test_repeat_is_answered_from_cache_and_recorded_without_cost(setup, session) -> None:
    manager, provider, user_id, _ = setup
    provider.enqueue(["A chat", " portal."], usage=Usage(100, 20))
    assert _ask(manager, user_id) == _ask(manager, user_id) == "A chat portal."
    assert len(provider.history) == 1
    events = session.exec(select(UsageEvent).order_by(col(UsageEvent.id))).all()
    assert [(e.cache_hit, e.cost_usd > 0) for e in events] == [(False, True), (True, False)]
    assert (events[1].tokens_in, events[1].tokens_out) == (0, 0)


def test_no_cache_hit_across_users(setup) -> None:
    manager, provider, user_id, other_id = setup
    provider.enqueue(["for alice"]).enqueue(["for bea"])
    assert _ask(manager, user_id) == "for alice"
    assert _ask(manager, other_id) == "for bea"
    assert len(provider.history) == 2


def test_sampled_requests_are_not_cached(setup) -> None:
    manager, provider, user_id, _ = setup
    provider.enqueue(["one"]).enqueue(["two"])
    assert (_ask(manager, user_id, 0.7), _ask(manager, user_id, 0.7)) == ("one", "two")


@pytest.mark.skipif(not REDIS_URL, reason="PARLEY_TEST_REDIS_URL not set")
def test_redis_cache_roundtrip_with_ttl() -> None:
    backend = RedisBackend(REDIS_URL)
    cache = ResponseCache(backend, ttl_seconds=30)
    key = cache_key(int(uuid.uuid4().int % 10**9), "p", REQUEST)
    cache.put(key, CachedReply("from redis", "m", 1, 1))
    assert cache.get(key) == CachedReply("from redis", "m", 1, 1)
    assert 0 < backend.client.ttl(key) <= 30


def test_redis_outage_degrades_to_a_miss() -> None:
    cache = ResponseCache(RedisBackend("redis://127.0.0.1:9/0"), ttl_seconds=30)
    cache.put("k", CachedReply("x", "m", 1, 1))
    assert cache.get("k") is None
