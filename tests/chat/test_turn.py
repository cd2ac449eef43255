"""Turn: frozen dependencies from the manager, named steps, and one key resolution per provider per turn."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.chat import ConversationManager, Turn, TurnDeps, TurnOptions
from core.chat import choice as choice_module
from core.config import ChatSettings, ModelInfo, ProviderCatalog, Settings, get_settings
from core.keys import save_user_key
from core.models import Message, MessageStatus
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer, Reply


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", "[127.0.0.1]")  # users' own server here is local
    get_settings.cache_clear()
    base = get_settings()
    catalog = {"base_url": server.openai_url, "max_retries": 0, "timeout_seconds": 5}
    return base.model_copy(update={
        "chat": ChatSettings(fallback=["openai", "anthropic", "compatible"]),
        "providers": {**base.providers,
                      "openai": ProviderCatalog(models={"gpt-test": ModelInfo()}, **catalog),
                      "compatible": ProviderCatalog(models={"compat-test": ModelInfo()}, **catalog)},
    })


@pytest.fixture
def alice(session: Session, server: FakeProviderServer, settings: Settings) -> int:
    uid = add_user(session, "alice")
    save_user_key(session=session, user_id=uid, provider="openai", api_key="sk-good-key")
    save_user_key(session=session, user_id=uid, provider="compatible", api_key="sk-good-key",
                  base_url=server.openai_url)
    return uid


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each provider's key was resolved (decrypted) for a user."""
    counts: Counter[str] = Counter()
    real = choice_module.resolve_keys

    def counting(**kwargs):  # type: ignore[no-untyped-def]
        counts.update(kwargs["providers"])
        return real(**kwargs)

    monkeypatch.setattr(choice_module, "resolve_keys", counting)
    return counts


OPTIONS = TurnOptions(provider="openai", model="gpt-test", temperature=0.2, max_tokens=32)


def _finish(turn: Turn) -> str:
    text = "".join(turn.deltas())
    turn.close()
    return text


def test_a_page_run_resolves_each_providers_key_once(engine, settings, server, alice, resolutions) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    providers = manager.providers_for(alice)
    options = {o.name: o for o in providers.options()}  # the model picker: every provider, once
    assert options["openai"].unavailable is None and options["anthropic"].unavailable
    server.enqueue("openai", Reply(chunks=["Hi", "!"]))
    turn = manager.send(user_id=alice, conversation_id=None, text="hello", options=OPTIONS, providers=providers)
    assert _finish(turn) == "Hi!"
    assert set(resolutions.values()) == {1}
    assert set(resolutions) == set(options)


def test_a_fallback_turn_resolves_each_provider_once(engine, settings, server, alice, resolutions) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(status=503), Reply(chunks=["from", " compat"]))
    turn = manager.send(user_id=alice, conversation_id=None, text="hello", options=OPTIONS)
    assert _finish(turn) == "from compat"
    outcome = turn.outcome
    assert outcome is not None and outcome.status == MessageStatus.complete
    assert (outcome.provider, outcome.fallback_from) == ("compatible", "openai")
    # openai when checked by send(), the others once each as the fallback chain reached them
    assert resolutions == Counter({"openai": 1, "anthropic": 1, "compatible": 1})


def test_turn_gets_frozen_deps_built_once_by_the_manager(engine, settings, server, alice) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["ok"]), Reply(chunks=["again"]))
    first = manager.send(user_id=alice, conversation_id=None, text="one", options=OPTIONS)
    _finish(first)
    second = manager.send(user_id=alice, conversation_id=first.conversation_id, text="two", options=OPTIONS)
    _finish(second)
    assert isinstance(first.deps, TurnDeps) and first.deps is second.deps is manager.deps
    assert not hasattr(first, "manager")
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.deps.settings = settings  # type: ignore[misc]


def test_provider_choice_is_a_value_not_a_flag_on_the_adapter(engine, settings, alice) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    choice = manager.providers_for(alice).choose("anthropic")
    assert "no API key" in (choice.unavailable_reason or "")
    assert not hasattr(choice.provider, "blocked")
    assert choice.provider.unavailable_reason() == "no API key configured"  # the adapter's own view


def test_stopped_turn_is_stored_once_as_interrupted(engine, settings, server, alice, session) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    server.enqueue("openai", Reply(chunks=["a", "b", "c", "d"], chunk_delay=0.05))
    turn = manager.send(user_id=alice, conversation_id=None, text="count", options=OPTIONS)
    stream = turn.deltas()
    assert next(stream) == "a"
    outcome = turn.close()  # the stop button
    assert outcome.status == MessageStatus.interrupted and outcome.text == "a"
    assert turn.close() is outcome  # closing twice stores nothing more
    replies = session.exec(select(Message).where(Message.conversation_id == turn.conversation_id,
                                                 Message.role == "assistant")).all()
    assert [(m.status, m.content) for m in replies] == [(MessageStatus.interrupted, "a")]
