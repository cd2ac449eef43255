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
            models={"gpt-test": ModelInfo()}, base_url=server.openai_url, max_retries=0, timeout_seconds=5)},
    })


@pytest.fixture
def alice(session: Session, settings: Settings) -> int:
    uid = add_user(session, "alice")
    save_user_key(session=session, user_id=uid, provider="openai", api_key="sk-good-key")
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
    turn.close()
    writing = live.open_reply(engine, settings, turn.conversation_id or 0, "openai", "gpt-test")
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
