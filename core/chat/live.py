"""Replies stored while they stream, so that losing an instance loses at most about a second of text.

A reply's row is written with status `streaming` before the provider is asked, its text is flushed at most every
chat.stream_flush_seconds, and a heartbeat thread re-stamps the rows this process is still writing. A row nobody
has stamped for chat.stream_stale_seconds belongs to a process that died (kill -9, lost machine): the same thread,
on every instance, marks it `interrupted` with its partial text kept. Start-up runs that sweep once too.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, update

from core.config import Settings
from core.db import session_scope
from core.i18n import Msg
from core.logging import log_event
from core.models import Conversation, Message, MessageRole, MessageStatus, utcnow

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_rows: dict[int, set[int]] = {}  # id(engine) -> the ids of the replies this process is writing
_watched: dict[int, tuple[Engine, float]] = {}  # engines swept for stale rows -> stale_seconds
_thread: threading.Thread | None = None
_wake = threading.Event()


def open_reply(engine: Engine, settings: Settings, conversation_id: int, provider: str, model: str) -> int:
    """The reply's row, `streaming` and empty, committed before the provider is asked; its id."""
    now = utcnow()
    with session_scope(engine) as session:
        message = Message(conversation_id=conversation_id, role=MessageRole.assistant, content="",
                          status=MessageStatus.streaming, provider=provider, model=model, created_at=now,
                          flushed_at=now)
        session.add(message)
        touch = (update(Conversation).where(col(Conversation.id) == conversation_id).values(updated_at=now)
                 .execution_options(synchronize_session=False))
        session.exec(touch)  # type: ignore[call-overload]
        session.flush()
        assert message.id is not None
        message_id = message.id
    with _lock:
        _rows.setdefault(id(engine), set()).add(message_id)
    watch(engine, settings)
    return message_id


def store_reply(session: Session, reply_id: int | None, message: Message) -> int:
    """The reply's final state: the streaming row updated in place (or, with none, a new row); its id."""
    if reply_id is None:
        session.add(message)
    else:
        values = message.model_dump(include={"content", "status", "provider", "model", "fallback_from", "error",
                                             "tokens_in", "tokens_out"})
        session.exec(update(Message).where(col(Message.id) == reply_id)  # type: ignore[call-overload]
                     .values(**values, flushed_at=None).execution_options(synchronize_session=False))
    # The conversation is not loaded in this session: nothing to synchronise, skip the ORM's search for it.
    touch = (update(Conversation).where(col(Conversation.id) == message.conversation_id)
             .values(updated_at=message.created_at).execution_options(synchronize_session=False))
    session.exec(touch)  # type: ignore[call-overload]
    session.flush()
    result = reply_id if reply_id is not None else message.id
    assert result is not None
    return result


def flush(engine: Engine, message_id: int, text: str) -> None:
    """The text so far, stored (only while the row is still `streaming`)."""
    statement = (update(Message).where(col(Message.id) == message_id, col(Message.status) == MessageStatus.streaming)
                 .values(content=text, flushed_at=utcnow()).execution_options(synchronize_session=False))
    with session_scope(engine) as session:
        session.exec(statement)  # type: ignore[call-overload]


def closed(engine: Engine, message_id: int | None) -> None:
    """The reply got its final status: this process no longer vouches for it."""
    with _lock:
        _rows.get(id(engine), set()).discard(message_id)


def interrupt_stale(engine: Engine, stale_seconds: float) -> int:
    """Rows left `streaming` by a process that stopped vouching for them become `interrupted`; how many."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    statement = (update(Message)
                 .where(col(Message.status) == MessageStatus.streaming, col(Message.flushed_at) < cutoff)
                 .values(status=MessageStatus.interrupted, flushed_at=None, error=Msg("chat.instance_lost"))
                 .execution_options(synchronize_session=False))
    with session_scope(engine) as session:
        count = int(session.exec(statement).rowcount)  # type: ignore[call-overload]
    if count:
        log_event(logger, "replies of a lost instance marked interrupted", count=count)
    return count


def stamp(engine: Engine) -> None:
    """Vouch for the rows this process is still writing (a slow first token must not look like a dead process)."""
    with _lock:
        ids = sorted(_rows.get(id(engine), set()))
    if ids:
        statement = (update(Message).where(col(Message.id).in_(ids), col(Message.status) == MessageStatus.streaming)
                     .values(flushed_at=utcnow()).execution_options(synchronize_session=False))
        with session_scope(engine) as session:
            session.exec(statement)  # type: ignore[call-overload]


def watch(engine: Engine, settings: Settings) -> None:
    """Sweep this engine's stale rows now and then, and stamp this process's live ones (one daemon thread)."""
    global _thread
    with _lock:
        _watched[id(engine)] = (engine, settings.chat.stream_stale_seconds)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_heartbeat, name="parley-live-replies", daemon=True)
            _thread.start()


def _heartbeat() -> None:
    while True:
        with _lock:
            watched = list(_watched.values())
        period = min((stale for _, stale in watched), default=30.0) / 4
        for engine, stale in watched:
            try:
                stamp(engine)
                interrupt_stale(engine, stale)
            except Exception:  # a database blip must not end the heartbeat; the next beat retries
                logger.warning("live replies: heartbeat failed", exc_info=True)
        _wake.wait(period)
        _wake.clear()


def forget() -> None:
    """Stop sweeping every engine (tests switch databases)."""
    with _lock:
        _watched.clear()
        _rows.clear()
