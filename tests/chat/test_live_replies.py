"""Replies stored while they stream, rows a dead instance left behind, and the graceful stop's refusal of new turns."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from core import lifecycle
from core.chat import ConversationManager, TurnOptions, live
from core.config import ChatSettings, ModelInfo, ProviderCatalog, Settings, get_settings
from core.errors import ServiceDraining
from core.history import import_conversations
from core.history.transfer_models import SCHEMA
from core.i18n import Msg
from core.keys import save_user_key
from core.models import Conversation, Message, MessageRole, MessageStatus, utcnow
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer, Reply

OPTIONS = TurnOptions(provider="openai", model="gpt-test", temperature=0.2, max_tokens=64)


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer) -> Settings:
    base = get_settings()
    return base.model_copy(update={
        "chat": ChatSettings(fallback=["openai"], stream_flush_seconds=0.1, stream_stale_seconds=5),
        "providers": {**base.providers, "openai": ProviderCatalog(
            models={"gpt-test": ModelInfo()}, base_url=server.openai_url, max_retries=0, timeout_seconds=5),
            "anthropic": ProviderCatalog(models={"claude-test": ModelInfo()}, base_url=server.anthropic_url,
                                         max_retries=0, timeout_seconds=5)},
    })


@pytest.fixture
def alice(session: Session, settings: Settings) -> int:
    uid = add_user(session, "alice")
    save_user_key(session=session, user_id=uid, provider="openai", api_key="sk-good-key")
    save_user_key(session=session, user_id=uid, provider="anthropic", api_key="sk-ant-good-key")
    return uid


@pytest.fixture(autouse=True)
def _ready() -> Iterator[None]:
    lifecycle.reset()
    yield
    lifecycle.reset()


def _replies(engine: Engine, conversation_id: int | None) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).where(Message.conversation_id == conversation_id,
                                                 Message.role == MessageRole.assistant)).all())


def test_a_reply_is_stored_as_it_streams_and_finished_in_place(engine, settings, server, alice) -> None:
    chunks = [f"w{i} " for i in range(30)]
    server.enqueue("openai", Reply(chunks=chunks, chunk_delay=0.03))
    manager = ConversationManager(engine=engine, settings=settings)
    turn = manager.send(user_id=alice, conversation_id=None, text="count", options=OPTIONS)
    shown: list[str] = []
    seen_streaming = []
    for delta in turn.deltas():
        shown.append(delta)
        if len(shown) in (10, 20):
            (row,) = _replies(engine, turn.conversation_id)
            seen_streaming.append(row)
            # What another instance would show now: the text so far, at most one flush interval behind.
            assert row.status == MessageStatus.streaming and "".join(shown).startswith(row.content)
            assert len(row.content) >= len("".join(shown[:-5]))
    outcome = turn.close()
    assert len(seen_streaming) == 2 and seen_streaming[0].content != seen_streaming[1].content
    (final,) = _replies(engine, turn.conversation_id)
    assert final.id == seen_streaming[0].id == outcome.message_id  # one row, finished in place
    assert (final.status, final.content, final.flushed_at) == (MessageStatus.complete, "".join(chunks), None)


def test_rows_of_a_dead_instance_become_interrupted_and_live_ones_do_not(engine, settings, session, alice) -> None:
    conv = Conversation(user_id=alice, provider="openai", model="gpt-test")
    session.add(conv)
    session.commit()
    assert conv.id is not None
    dead = live.open_reply(engine, settings, conv.id, "openai", "gpt-test")
    live.flush(engine, dead, "half a repl")
    live.closed(engine, dead)  # its process is gone: nobody vouches for it any more
    alive = live.open_reply(engine, settings, conv.id, "openai", "gpt-test")  # slow first token, still alive
    old = utcnow() - timedelta(seconds=60)
    with Session(engine) as s:
        s.exec(update(Message).where(col(Message.id).in_([dead, alive])).values(flushed_at=old))  # type: ignore[call-overload]
        s.commit()
    live.stamp(engine)  # the heartbeat of the process writing `alive`
    assert live.interrupt_stale(engine, stale_seconds=5) == 1
    rows = {m.id: m for m in _replies(engine, conv.id)}
    assert (rows[dead].status, rows[dead].content, rows[dead].error) == (
        MessageStatus.interrupted, "half a repl", Msg("chat.instance_lost"))
    assert rows[alive].status == MessageStatus.streaming
    live.closed(engine, alive)


def test_a_reply_still_being_written_is_not_context_for_the_next_turn(engine, settings, server, alice) -> None:
    server.enqueue("openai", Reply(chunks=["first"]))
    manager = ConversationManager(engine=engine, settings=settings)
    turn = manager.send(user_id=alice, conversation_id=None, text="one", options=OPTIONS)
    "".join(turn.deltas())
    first = turn.close().message_id
    writing = live.open_reply(engine, settings, turn.conversation_id or 0, "openai", "gpt-test", parent_id=first)
    live.flush(engine, writing, "not an answer yet")
    server.enqueue("openai", Reply(chunks=["second"]))
    second = manager.send(user_id=alice, conversation_id=turn.conversation_id, text="two", options=OPTIONS)
    "".join(second.deltas())
    second.close()
    sent = [m["content"] for m in server.calls("/chat/completions")[-1].body["messages"]]
    assert "first" in sent and "not an answer yet" not in sent
    live.closed(engine, writing)


def test_a_draining_instance_starts_no_turn_and_stores_nothing(engine, settings, server, alice) -> None:
    manager = ConversationManager(engine=engine, settings=settings)
    lifecycle.drain()
    with pytest.raises(ServiceDraining) as refused:
        manager.send(user_id=alice, conversation_id=None, text="hello", options=OPTIONS)
    assert "restarting" in str(refused.value.user_message)
    with Session(engine) as s:
        assert s.exec(select(Conversation).where(Conversation.user_id == alice)).all() == []
    assert server.calls("/chat/completions") == []


def test_the_graceful_stop_waits_for_turns_in_flight(engine, settings, server, alice) -> None:
    server.enqueue("openai", Reply(chunks=["a", "b", "c", "d", "e"], chunk_delay=0.1))
    manager = ConversationManager(engine=engine, settings=settings)
    turn = manager.send(user_id=alice, conversation_id=None, text="go", options=OPTIONS)
    assert lifecycle.in_flight() == 1
    lifecycle.drain()  # SIGTERM arrives mid-reply

    def finish() -> None:
        "".join(turn.deltas())
        turn.close()

    worker = threading.Thread(target=finish)
    worker.start()
    assert lifecycle.wait_for_turns(grace_seconds=30) == 0  # returned once the reply finished, not at the deadline
    worker.join()
    (reply,) = _replies(engine, turn.conversation_id)
    assert (reply.status, reply.content) == (MessageStatus.complete, "abcde")
    assert lifecycle.wait_for_turns(grace_seconds=0) == 0


def test_an_exported_streaming_reply_imports_as_interrupted(engine, session, alice) -> None:
    export = {"schema": SCHEMA, "version": 1, "conversations": [{
        "title": "t", "messages": [{"role": "user", "content": "q"},
                                   {"role": "assistant", "content": "part", "status": "streaming"}]}]}
    assert import_conversations(session=session, user_id=alice, raw=json.dumps(export).encode(),
                                max_bytes=1_000_000) == 1
    (reply,) = session.exec(select(Message).where(Message.role == MessageRole.assistant)).all()
    assert reply.status == MessageStatus.interrupted


def test_r2_row23_a_reply_lost_with_its_instance_is_charged_once(engine, settings, server, alice, session) -> None:
    """Issue 21, row 23: a call lost with a killed instance was never charged (its hold was released after the TTL
    with no usage). The sweep that marks its row interrupted charges its prompt and the text stored, estimated,
    once; and if the "dead" process was only stalled, finishing later charges nothing more."""
    from core.models import BudgetHold, Role, UsageEvent
    from core.usage import Budgets, leases

    server.enqueue("openai", Reply(chunks=[f"word{i} " for i in range(40)], chunk_delay=0.05))
    manager = ConversationManager(engine=engine, settings=settings)
    turn = manager.send(user_id=alice, conversation_id=None, text="Tell me a long story", options=OPTIONS)
    stream = turn.deltas()
    shown = "".join(next(stream) for _ in range(10))
    reply_id, hold = turn._reply.id, turn._attempt.hold if turn._attempt else None  # noqa: SLF001
    assert reply_id is not None and hold is not None
    live.closed(engine, reply_id)  # the process "dies": nobody vouches for the row or renews the hold any more
    leases.untrack(manager.deps.budgets.ledger, hold.id)
    with Session(engine) as s:
        s.exec(update(Message).where(col(Message.id) == reply_id)  # type: ignore[call-overload]
               .values(flushed_at=utcnow() - timedelta(seconds=60)))
        s.commit()
    budgets = Budgets(settings, engine)  # another instance's
    assert live.interrupt_stale(engine, stale_seconds=5, budgets=budgets) == 1
    assert live.interrupt_stale(engine, stale_seconds=5, budgets=budgets) == 0
    [lost] = session.exec(select(UsageEvent)).all()
    stored = session.exec(select(Message.content).where(Message.id == reply_id)).one()
    assert stored and shown.startswith(stored[:20])
    assert (lost.status, lost.error_kind, lost.estimated, lost.conversation_id) == (
        "interrupted", "lost", True, turn.conversation_id)
    assert 0 < lost.tokens_out <= OPTIONS.max_tokens and lost.tokens_in > 0 and lost.hold_id == hold.id
    standing = budgets.standing(alice, settings.limits.for_role(Role.user))
    assert standing.tokens_held == 0 and standing.tokens_today == lost.tokens_in + lost.tokens_out
    assert session.exec(select(BudgetHold)).all() == []
    turn.close()  # the "dead" process was only stalled: it finds its row swept and charges nothing more
    session.expire_all()
    assert len(session.exec(select(UsageEvent)).all()) == 1
    assert budgets.standing(alice, settings.limits.for_role(Role.user)).tokens_today == lost.tokens_in + lost.tokens_out


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_streaming_never_lies_one_character_deltas_and_korean_split_across_reads(
        engine, settings, server, alice, protocol) -> None:  # type: ignore[no-untyped-def]
    """Issue 22: what the page shows at the end of the stream equals the stored reply shown again, for deltas of one
    character and for Korean whose UTF-8 bytes arrive one network write at a time (the real SDKs decode them)."""
    from dataclasses import replace

    from core.ui.chat.markdown import display, stream_images_as_links
    from core.ui.chat.markdown_breaks import hard_breaks

    text = "바다는 깊고\n하늘은 넓다 ![그림](http://e.test/k.png)\n`코드\n조각` 끝."
    server.enqueue(protocol, Reply(chunks=list(text)), Reply(chunks=[text[:7], text[7:]], byte_writes=True))
    manager = ConversationManager(engine=engine, settings=settings)
    options = OPTIONS if protocol == "openai" else replace(OPTIONS, provider="anthropic", model="claude-test")
    for _ in range(2):
        turn = manager.send(user_id=alice, conversation_id=None, text="시", options=options)
        shown = [hard_breaks(s) for s in stream_images_as_links(turn.deltas(), every=0)]
        outcome = turn.close()
        stored = _replies(engine, turn.conversation_id)[-1].content
        assert outcome.text == stored == text
        assert shown[-1] == display(stored)
