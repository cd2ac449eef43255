"""ConversationManager: persistence on success/stop/error, fallback, context trimming, cost, ownership."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.accounts import create_user
from core.chat import ConversationManager, TurnOptions
from core.config import ChatSettings, ModelInfo, ProviderCatalog, Settings, get_settings
from core.errors import InvalidProviderKey, NotFound, ProviderTimeout, ProviderUnavailable, ValidationError
from core.models import Conversation, Message, UsageEvent, User, UserCreate
from core.providers.base import Usage
from core.usage import cost_usd
from tests.fakes.fake_provider import FakeProvider


@pytest.fixture
def providers() -> dict[str, FakeProvider]:
    return {"primary": FakeProvider("primary", "p-model"), "backup": FakeProvider("backup", "b-model")}


@pytest.fixture
def settings(engine: Engine) -> Settings:
    base = get_settings()
    return base.model_copy(update={
        "chat": ChatSettings(fallback=["primary", "backup"], max_input_chars=200, title_chars=20),
        "providers": {**base.providers,
                      "primary": ProviderCatalog(models={"p-model": ModelInfo(price_in=2.0, price_out=8.0)}),
                      "backup": ProviderCatalog(models={"b-model": ModelInfo()})},
    })


@pytest.fixture
def manager(engine: Engine, settings: Settings, providers: dict[str, FakeProvider]) -> ConversationManager:
    ticks = iter(range(0, 10_000_000, 10))  # a clock advancing 10 ms per reading
    return ConversationManager(engine=engine, settings=settings,
                               provider_factory=lambda name, _uid: providers[name],
                               clock=lambda: next(ticks) / 1000)


@pytest.fixture
def user_id(session: Session) -> int:
    admin = session.exec(select(User).where(User.username == "admin")).one()
    return admin.id or 0


OPTS = TurnOptions(provider="primary", model="p-model", temperature=0.0, max_tokens=50, system_prompt="Be brief.")


def _messages(session: Session, conv_id: int) -> list[Message]:
    session.expire_all()
    return list(session.exec(select(Message).where(Message.conversation_id == conv_id).order_by(col(Message.id))))


def _usage(session: Session) -> list[UsageEvent]:
    session.expire_all()
    return list(session.exec(select(UsageEvent).order_by(col(UsageEvent.id))))


def test_complete_turn_stores_both_messages_and_one_usage_event(manager, providers, session, user_id) -> None:
    providers["primary"].enqueue(["Hi", " there"], usage=Usage(1000, 500))
    turn = manager.send(user_id=user_id, conversation_id=None, text="Hello\x07 model", options=OPTS)
    assert "".join(turn.deltas()) == "Hi there"
    outcome = turn.close()
    assert outcome.status == "complete" and outcome.provider == "primary" and outcome.fallback_from is None
    msgs = _messages(session, turn.conversation_id)
    assert [(m.role, m.content, m.status) for m in msgs] == [
        ("user", "Hello model", "complete"), ("assistant", "Hi there", "complete")]
    conv = session.get(Conversation, turn.conversation_id)
    assert conv is not None and conv.title == "Hello model" and conv.system_prompt == "Be brief."
    [event] = _usage(session)
    assert (event.tokens_in, event.tokens_out, event.status) == (1000, 500, "complete")
    assert event.cost_usd == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert event.ttft_ms is not None and event.total_ms is not None and event.ttft_ms <= event.total_ms
    sent = providers["primary"].history[0]
    assert sent.system == "Be brief." and sent.temperature == 0.0 and sent.max_tokens == 50


def test_user_message_is_stored_before_the_provider_is_called(manager, providers, session, user_id) -> None:
    turn = manager.send(user_id=user_id, conversation_id=None, text="keep me", options=OPTS)
    assert providers["primary"].history == []  # nothing asked yet
    assert [m.content for m in _messages(session, turn.conversation_id)] == ["keep me"]
    turn.close()


def test_stop_mid_reply_keeps_partial_text_marked_interrupted(manager, providers, session, user_id) -> None:
    providers["primary"].enqueue(["one", " two", " three", " four"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="count", options=OPTS)
    stream = turn.deltas()
    assert next(stream) + next(stream) == "one two"
    outcome = turn.close()  # what the page does when the stop button raises StopException
    assert outcome.status == "interrupted" and outcome.text == "one two"
    assert providers["primary"].closed == 1  # the provider stream was closed, generation stopped
    reply = _messages(session, turn.conversation_id)[-1]
    assert (reply.content, reply.status) == ("one two", "interrupted")
    [event] = _usage(session)
    assert event.status == "interrupted" and event.tokens_out == 2 and event.tokens_in > 0


def test_connection_lost_mid_stream_keeps_partial_text(manager, providers, session, user_id) -> None:
    providers["primary"].enqueue(["par", "tial", "never"], error=ProviderUnavailable("connection lost"), error_after=2)
    turn = manager.send(user_id=user_id, conversation_id=None, text="go", options=OPTS)
    assert "".join(turn.deltas()) == "partial"
    outcome = turn.close()
    assert outcome.status == "interrupted" and outcome.error == "connection lost"
    assert providers["backup"].history == []  # text was already shown: no fallback
    assert _usage(session)[0].error_kind == "unavailable"


def test_fallback_answers_when_primary_is_unavailable(manager, providers, session, user_id) -> None:
    providers["primary"].enqueue([], error=ProviderTimeout())
    providers["backup"].enqueue(["from backup"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="hello", options=OPTS)
    assert "".join(turn.deltas()) == "from backup"
    outcome = turn.close()
    assert (outcome.status, outcome.provider, outcome.model, outcome.fallback_from) == (
        "complete", "backup", "b-model", "primary")
    reply = _messages(session, turn.conversation_id)[-1]
    assert reply.provider == "backup" and reply.fallback_from == "primary"
    events = _usage(session)
    assert [(e.provider, e.status, e.error_kind) for e in events] == [
        ("primary", "error", "timeout"), ("backup", "complete", None)]


def test_invalid_key_does_not_fall_back_and_is_stored_as_error(manager, providers, session, user_id) -> None:
    providers["primary"].enqueue([], error=InvalidProviderKey())
    turn = manager.send(user_id=user_id, conversation_id=None, text="hello", options=OPTS)
    assert list(turn.deltas()) == []
    outcome = turn.close()
    assert outcome.status == "error" and "API key" in (outcome.error or "")
    assert providers["backup"].history == []
    msgs = _messages(session, turn.conversation_id)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[0].content == "hello"
    assert msgs[1].status == "error"
    assert [e.error_kind for e in _usage(session)] == ["invalid_key"]


def test_unavailable_fallback_providers_are_skipped(manager, providers, session, user_id) -> None:
    providers["backup"]._unavailable = "no API key configured"
    providers["primary"].enqueue([], error=ProviderUnavailable())
    turn = manager.send(user_id=user_id, conversation_id=None, text="hello", options=OPTS)
    list(turn.deltas())
    assert turn.close().status == "error"
    assert providers["backup"].history == []


def test_context_keeps_system_prompt_and_newest_messages_that_fit(manager, providers, session, user_id) -> None:
    small = FakeProvider("primary", "p-model", context_window=50 + 16 + 4 + 2 + 24)
    providers["primary"] = small
    conv_id = None
    for word in ["alpha", "beta", "gamma"]:
        small.enqueue([f"re-{word}"], usage=Usage(1, 1))
        turn = manager.send(user_id=user_id, conversation_id=conv_id, text=f"{word} " * 3, options=OPTS)
        list(turn.deltas())
        conv_id = turn.close() and turn.conversation_id
    # budget = window - max_tokens(50) - margin(16) - system(2 words + 4) = 24 tokens;
    # each user message costs 3+4 and each reply its reported 1 token + 4.
    # Newest first: gamma 7, re-beta 5, beta 7, re-alpha 5 = 24 fits; alpha would make 31. A context
    # must start with the user, so re-alpha is dropped too.
    last = small.history[-1]
    assert last.system == "Be brief."
    assert [(m.role, m.content) for m in last.messages] == [
        ("user", "beta beta beta"), ("assistant", "re-beta"), ("user", "gamma gamma gamma")]


def test_message_too_long_for_the_window_is_refused_clearly_and_kept(manager, providers, session, user_id) -> None:
    providers["primary"] = FakeProvider("primary", "p-model", context_window=60)
    providers["backup"] = FakeProvider("backup", "b-model", context_window=60)
    turn = manager.send(user_id=user_id, conversation_id=None, text="word " * 30, options=OPTS)
    assert list(turn.deltas()) == []
    outcome = turn.close()
    assert outcome.status == "error" and "too long" in (outcome.error or "")
    assert _messages(session, turn.conversation_id)[0].content.startswith("word")


@pytest.mark.parametrize("text,message", [("", "Type a message"), ("  \x00\x01 ", "Type a message"),
                                          ("x" * 201, "limit is 200")])
def test_bad_input_is_refused_before_anything_is_stored(manager, session, user_id, text, message) -> None:
    with pytest.raises(ValidationError, match=message):
        manager.send(user_id=user_id, conversation_id=None, text=text, options=OPTS)
    assert session.exec(select(Message)).all() == []


def test_regenerate_adds_a_version_of_the_last_reply(manager, providers, session, user_id) -> None:
    from core.history import read_thread

    providers["primary"].enqueue(["first"]).enqueue(["second"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="q", options=OPTS)
    list(turn.deltas())
    turn.close()
    again = manager.regenerate(user_id=user_id, conversation_id=turn.conversation_id, options=OPTS)
    list(again.deltas())
    again.close()
    assert [m.content for m in _messages(session, turn.conversation_id)] == ["q", "first", "second"]
    thread = read_thread(session=session, user_id=user_id, conversation_id=turn.conversation_id)
    assert [m.content for m in thread.messages] == ["q", "second"]
    assert thread.versions[thread.messages[-1].id].n == 2 and thread.versions[thread.messages[-1].id].total == 2


def test_edit_last_message_resends(manager, providers, session, user_id) -> None:
    providers["primary"].enqueue(["a1"]).enqueue(["a2"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="typo", options=OPTS)
    list(turn.deltas())
    turn.close()
    edited = manager.edit_last(user_id=user_id, conversation_id=turn.conversation_id, text="fixed", options=OPTS)
    list(edited.deltas())
    edited.close()
    assert [m.content for m in _messages(session, turn.conversation_id)] == ["typo", "a1", "fixed", "a2"]
    assert providers["primary"].history[-1].messages[-1].content == "fixed"
    assert [m.content for m in providers["primary"].history[-1].messages] == ["fixed"]  # not the earlier version


def test_other_users_conversation_is_not_found(manager, providers, session, user_id) -> None:
    turn = manager.send(user_id=user_id, conversation_id=None, text="mine", options=OPTS)
    turn.close()
    other = create_user(session=session, actor_id=user_id, user_in=UserCreate(
        username="mallory", email="m@example.com", display_name="M", password="Mallory-pw-1"))
    with pytest.raises(NotFound):
        manager.send(user_id=other.id, conversation_id=turn.conversation_id, text="hijack", options=OPTS)
    with pytest.raises(NotFound):
        manager.regenerate(user_id=other.id, conversation_id=turn.conversation_id, options=OPTS)


def test_unavailable_provider_is_refused_with_reason(manager, providers, user_id) -> None:
    providers["primary"]._unavailable = "no API key configured"
    with pytest.raises(ValidationError, match="no API key configured"):
        manager.send(user_id=user_id, conversation_id=None, text="hi", options=OPTS)


def test_cost_from_price_table(settings) -> None:
    assert cost_usd("primary", "p-model", Usage(1_000_000, 1_000_000), settings) == pytest.approx(10.0)
    assert cost_usd("primary", "unknown-model", Usage(10, 10), settings) == 0.0
    assert cost_usd("openai", "gpt-4o-mini", Usage(2_000_000, 1_000_000), settings) == pytest.approx(0.3 + 0.6)


def test_title_is_first_line_cut_at_a_word() -> None:
    from core.history import title_from

    assert title_from("\n  How do   I deploy Parley on Kubernetes?\nmore", 20) == "How do I deploy…"
    assert title_from("데이터베이스를 어떻게 백업하나요", 60) == "데이터베이스를 어떻게 백업하나요"
