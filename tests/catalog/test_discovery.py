"""Discovery through the real SDKs against the wire-protocol server: new models are added disabled until priced,
what an admin set is kept, failures say why without the key, each run is recorded and audited, and the schedule
lets one instance ask each provider per period."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from core.accounts import audit_log
from core.catalog import claim, last_runs, run_discovery, run_due, running, set_enabled, start_discovery, update_model
from core.chat import ConversationManager, ProviderChooser, TurnOptions
from core.config import get_settings
from core.errors import ValidationError
from core.model_catalog import forget_catalog, lookup, offered
from core.models import DiscoveryRun, PriceOverride, UsageEvent, User
from core.usage import clear_price, forget_prices, price_of, set_price
from tests.catalog.test_catalog import _settings_of
from tests.conftest import add_user
from tests.fakes.provider_server import LISTED, FakeProviderServer, Reply


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    srv = FakeProviderServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def keys(server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, parley_env) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Organisation keys for OpenAI and Anthropic, both served by the fake, which lists a chat model, an embedding
    model, a text-to-speech model and one config.yaml already names."""
    for name, value in {"OPENAI_API_KEY": "sk-good-key", "ANTHROPIC_API_KEY": "sk-ant-good-key",
                        "PARLEY_PROVIDERS__OPENAI__BASE_URL": server.openai_url,
                        "PARLEY_PROVIDERS__ANTHROPIC__BASE_URL": server.anthropic_url,
                        "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    server.listed = [("fake-model", "Fake"), ("fake-embed-small", ""), ("tts-1", ""), ("gpt-4o", "GPT-4o"),
                     ("bge-m3", ""), ("![x](https://example.com/t.png)", "")]  # not a model id: left out
    server.history.clear()
    yield
    server.listed = list(LISTED)


def _admin(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()


def test_discovery_adds_new_models_disabled_until_an_admin_prices_them(keys, engine, session: Session,
                                                                      server: FakeProviderServer) -> None:
    admin, ann = _admin(session), add_user(session, "ann")
    settings = get_settings()
    outcomes = {o.provider: o for o in run_discovery(engine, settings, admin, ["openai", "anthropic", "local"])}
    assert (outcomes["openai"].found, outcomes["openai"].added, outcomes["openai"].error) == (4, 3, None)  # no tts
    assert (outcomes["local"].found, outcomes["local"].added) == (1, 0)  # the bundled model is its own catalog
    found = lookup(settings, engine, "openai", "fake-model")
    assert found is not None and not found.enabled and not found.configured and found.seen_at is not None
    embed = lookup(settings, engine, "openai", "fake-embed-small")
    assert embed is not None and embed.kind == "embedding"
    assert lookup(settings, engine, "openai", "tts-1") is None
    named = lookup(settings, engine, "anthropic", "fake-model")
    assert named is not None and named.title == "Fake"  # Anthropic's list names its models
    configured = lookup(settings, engine, "openai", "gpt-4o")
    assert configured is not None and configured.enabled and configured.info.display_name == ""  # config.yaml's
    chooser = ProviderChooser(ann, settings=settings, engine=engine)
    assert "fake-model" not in chooser.choose("openai").provider.list_models()

    with pytest.raises(ValidationError, match="price"):  # never offered at $0 by accident
        set_enabled(session=session, actor_id=admin, provider="openai", model="fake-model", enabled=True)
    set_price(session=session, actor_id=admin, provider="openai", model="fake-model", price_in=1.0, price_out=2.0)
    update_model(session=session, actor_id=admin, provider="openai", model="fake-model",
                 change=_settings_of(session, "openai", "fake-model", enabled=True, display_name="Fake (ours)"))
    set_price(session=session, actor_id=admin, provider="openai", model="fake-embed-small", price_in=0.02, price_out=0)
    set_enabled(session=session, actor_id=admin, provider="openai", model="fake-embed-small", enabled=True)
    set_price(session=session, actor_id=admin, provider="openai", model="bge-m3", price_in=0.01, price_out=0)
    update_model(session=session, actor_id=admin, provider="openai", model="bge-m3",  # its id did not say
                 change=_settings_of(session, "openai", "bge-m3", enabled=True, kind="embedding"))
    now = offered(settings, engine).providers["openai"]
    assert now.models["fake-model"].display_name == "Fake (ours)"
    assert {"fake-embed-small", "bge-m3"} <= set(now.embedding_models) and "bge-m3" not in now.models
    with pytest.raises(ValidationError, match="config.yaml"):  # config.yaml says what its own models are for
        update_model(session=session, actor_id=admin, provider="openai", model="gpt-4o",
                     change=_settings_of(session, "openai", "gpt-4o", kind="embedding"))

    server.enqueue("openai", Reply(chunks=["hello"], tokens_in=1000, tokens_out=500))
    turn = ConversationManager(engine=engine, settings=settings).send(
        user_id=ann, conversation_id=None, text="hi", options=TurnOptions(provider="openai", model="fake-model"))
    assert "".join(turn.deltas()) == "hello"
    turn.close()
    event = session.exec(select(UsageEvent).where(UsageEvent.model == "fake-model")).one()
    assert event.cost_usd == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)  # the admin's price
    with pytest.raises(ValidationError, match="disable it"):  # config.yaml has no price to fall back to
        clear_price(session=session, actor_id=admin, provider="openai", model="fake-model")
    session.delete(session.get(PriceOverride, ("openai", "fake-embed-small")))  # gone behind the admin's back
    session.commit()
    forget_catalog()
    forget_prices()
    assert price_of("openai", "fake-embed-small") is None  # never $0
    assert "fake-embed-small" not in offered(settings, engine).providers["openai"].embedding_models

    again = run_discovery(engine, settings, None, ["openai"])[0]  # the schedule's run: what admins set is kept
    assert (again.found, again.added) == (4, 0)
    assert lookup(settings, engine, "openai", "![x](https://example.com/t.png)") is None
    kept = lookup(settings, engine, "openai", "fake-model")
    assert kept is not None and kept.enabled and kept.title == "Fake (ours)"
    runs = {r.provider: r for r in last_runs(session=session, actor_id=admin)}
    assert (runs["openai"].found, runs["openai"].added, runs["openai"].error) == (4, 0, None)
    discovered = [e for e in audit_log(session=session, actor_id=admin) if e.action == "catalog.discover"]
    assert len(discovered) == 2 and discovered[0].actor_id is None and discovered[1].actor_id == admin


def test_a_provider_that_cannot_be_asked_says_why_and_never_shows_the_key(keys, engine, session: Session,
                                                                         server: FakeProviderServer,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    get_settings.cache_clear()
    before = len(server.history)
    outcomes = {o.provider: o for o in run_discovery(engine, get_settings(), None, ["openai", "anthropic"])}
    assert outcomes["openai"].error and "key" in outcomes["openai"].error.lower()
    assert outcomes["anthropic"].error and "ANTHROPIC_API_KEY" in outcomes["anthropic"].error
    assert [c.path for c in server.history[before:]] == ["/v1/models"]  # no key: Anthropic was not asked
    stored = " ".join(str(r.error) for r in session.exec(select(DiscoveryRun)).all())
    detail = " ".join(e.detail for e in audit_log(session=session, actor_id=_admin(session)))
    assert "sk-wrong-key-123456" not in stored + detail and "123456" not in stored + detail


def test_an_admin_starts_discovery_without_waiting_for_it(keys, engine, session: Session) -> None:
    admin = _admin(session)
    assert start_discovery(session=session, actor_id=admin, settings=get_settings(), engine=engine)
    deadline = time.monotonic() + 30
    while running(session) and time.monotonic() < deadline:
        time.sleep(0.05)
        session.expire_all()
    assert not running(session)
    assert lookup(get_settings(), engine, "openai", "fake-model") is not None


def test_the_schedule_asks_each_provider_once_per_period_whichever_instance_claims(keys, engine) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def instance() -> None:
        barrier.wait()
        results.append(claim(engine, "openai", timedelta(hours=24)))

    threads = [threading.Thread(target=instance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert not claim(engine, "openai", timedelta(0))  # its run has not finished: nobody else starts one
    settings = get_settings().model_copy(update={"catalog": get_settings().catalog.model_copy(
        update={"discover_every_hours": 24})})
    done = {o.provider for o in run_due(engine, settings)}
    assert "openai" not in done and {"anthropic", "local"} <= done  # openai's turn was taken above
    assert run_due(engine, settings) == []  # every provider ran within the period
