"""Replies stored while they stream, so that losing an instance loses at most about a second of text.

A reply's row is written with status `streaming` before the provider is asked, its text is flushed at most every
chat.stream_flush_seconds, and a heartbeat thread re-stamps the rows this process is still writing. A row nobody
has stamped for chat.stream_stale_seconds belongs to a process that died (kill -9, lost machine): the same thread,
on every instance, marks it `interrupted` with its partial text kept, and charges its call once (the row says what
the call is: its budget hold, its prompt's tokens; the usage event is estimated from the text stored, in the
transaction that marks the row, so only one instance ever does it). Start-up runs that sweep once too.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, update

from core.config import Settings
from core.db import session_scope
from core.i18n import Msg
from core.logging import log_event
from core.models import Conversation, Message, MessageRole, MessageStatus, utcnow
from core.usage import Budgets

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_rows: dict[int, set[int]] = {}  # id(engine) -> the ids of the replies this process is writing
_watched: dict[int, tuple[Engine, float, Budgets]] = {}  # engines swept for stale rows -> stale_seconds, budgets
_thread: threading.Thread | None = None
_wake = threading.Event()


@dataclass(frozen=True)
class LiveCall:
    """What a streaming reply's call is, kept on its row until it finishes (for charging it if its process dies)."""

    hold: str | None  # its budget hold (None: no budget applied)
    prompt_tokens: int  # estimated, as a stopped reply's usage would be
    max_tokens: int
    source: str = "ui"
    token: str | None = None
    team: int | None = None
    prefix: int = 0  # characters of the reply written by earlier calls (a continued reply): not this call's

    def dumps(self) -> str:
        return json.dumps(asdict(self))


def open_reply(engine: Engine, settings: Settings, conversation_id: int, provider: str, model: str,
               call: LiveCall | None = None, parent_id: int | None = None) -> int:
    """The reply's row, `streaming` and empty, committed before the provider is asked (the end of the branch the
    conversation shows); its id."""
    now = utcnow()
    with session_scope(engine) as session:
        message = Message(conversation_id=conversation_id, role=MessageRole.assistant, content="",
                          status=MessageStatus.streaming, provider=provider, model=model, created_at=now,
                          flushed_at=now, live_call=call.dumps() if call else None, parent_id=parent_id)
        session.add(message)
        session.flush()
        assert message.id is not None
        message_id = message.id
        touch = (update(Conversation).where(col(Conversation.id) == conversation_id)
                 .values(updated_at=now, leaf_id=message_id).execution_options(synchronize_session=False))
        session.exec(touch)  # type: ignore[call-overload]
    _track(engine, settings, message_id)
    return message_id


def reopen_reply(engine: Engine, settings: Settings, reply_id: int, provider: str, model: str,
                 call: LiveCall) -> bool:
    """A finished reply streams again (Continue): its row back to `streaming`, its text kept; False when it is
    already being written (a second Continue)."""
    now = utcnow()
    statement = (update(Message).where(col(Message.id) == reply_id, col(Message.status) != MessageStatus.streaming)
                 .values(status=MessageStatus.streaming, provider=provider, model=model, flushed_at=now,
                         live_call=call.dumps()).execution_options(synchronize_session=False))
    with session_scope(engine) as session:
        if not session.exec(statement).rowcount:  # type: ignore[call-overload]
            return False
    _track(engine, settings, reply_id)
    return True


def _track(engine: Engine, settings: Settings, message_id: int) -> None:
    with _lock:
        _rows.setdefault(id(engine), set()).add(message_id)
    watch(engine, settings)


def retarget(engine: Engine, reply_id: int, provider: str, model: str, call: LiveCall) -> None:
    """A fallback attempt took over the streaming row: its provider, model and call from now on."""
    statement = (update(Message).where(col(Message.id) == reply_id, col(Message.status) == MessageStatus.streaming)
                 .values(provider=provider, model=model, live_call=call.dumps())
                 .execution_options(synchronize_session=False))
    with session_scope(engine) as session:
        session.exec(statement)  # type: ignore[call-overload]


def store_reply(session: Session, reply_id: int | None, message: Message) -> int | None:
    """The reply's final state: the streaming row updated in place (or, with none, a new row); its id. None when
    another instance swept the row meanwhile (this process looked dead): that sweep charged the call, not us."""
    if reply_id is None:
        session.add(message)
    else:
        values = message.model_dump(include={"content", "status", "provider", "model", "fallback_from", "error",
                                             "tokens_in", "tokens_out", "stop_reason"})
        mine = (update(Message).where(col(Message.id) == reply_id, col(Message.status) == MessageStatus.streaming)
                .values(**values, flushed_at=None, live_call=None).execution_options(synchronize_session=False))
        if not session.exec(mine).rowcount:  # type: ignore[call-overload]
            return None
    # The conversation is not loaded in this session: nothing to synchronise, skip the ORM's search for it.
    session.flush()
    result = reply_id if reply_id is not None else message.id
    assert result is not None
    touch = (update(Conversation).where(col(Conversation.id) == message.conversation_id)
             .values(updated_at=message.created_at, leaf_id=result).execution_options(synchronize_session=False))
    session.exec(touch)  # type: ignore[call-overload]
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


def interrupt_stale(engine: Engine, stale_seconds: float, budgets: Budgets | None = None) -> int:
    """Rows left `streaming` by a process that stopped vouching for them become `interrupted`, and their calls are
    charged (with budgets), each in one transaction that only one instance can win; how many."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    stale = (col(Message.status) == MessageStatus.streaming, col(Message.flushed_at) < cutoff)
    with session_scope(engine) as session:
        rows = session.execute(select(col(Message.id), col(Message.conversation_id), col(Message.content),
                                      col(Message.provider), col(Message.model), col(Message.live_call),
                                      col(Conversation.user_id))
                               .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                               .where(*stale).limit(500)).all()
    count = 0
    for message_id, conversation_id, text, provider, model, live_call, user_id in rows:
        with session_scope(engine) as session:
            won = (update(Message).where(col(Message.id) == message_id, *stale)
                   .values(status=MessageStatus.interrupted, flushed_at=None, error=Msg("chat.instance_lost"),
                           live_call=None).execution_options(synchronize_session=False))
            if not session.exec(won).rowcount:  # type: ignore[call-overload]
                continue  # another instance swept it first
            if live_call and budgets is not None:
                call = LiveCall(**json.loads(live_call))
                budgets.charge_lost_reply(session, hold_id=call.hold, user_id=user_id,
                                          conversation_id=conversation_id, provider=provider or "",
                                          model=model or "", prompt_tokens=call.prompt_tokens,
                                          text=text[call.prefix:],
                                          max_tokens=call.max_tokens, source=call.source, token_name=call.token,
                                          team_id=call.team)
        count += 1
    if count:
        log_event(logger, "replies of a lost instance marked interrupted and charged", count=count)
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
        known = _watched.get(id(engine))
        _watched[id(engine)] = (engine, settings.chat.stream_stale_seconds,
                                known[2] if known else Budgets(settings, engine))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_heartbeat, name="parley-live-replies", daemon=True)
            _thread.start()


def budgets_of(engine: Engine) -> Budgets | None:
    """The budgets the sweep charges lost calls against, for a watched engine."""
    with _lock:
        known = _watched.get(id(engine))
    return known[2] if known else None


def _heartbeat() -> None:
    while True:
        with _lock:
            watched = list(_watched.values())
        period = min((stale for _, stale, _ in watched), default=30.0) / 4
        for engine, stale, budgets in watched:
            try:
                stamp(engine)
                interrupt_stale(engine, stale, budgets)
            except Exception:  # a database blip must not end the heartbeat; the next beat retries
                logger.warning("live replies: heartbeat failed", exc_info=True)
        _wake.wait(period)
        _wake.clear()


def forget() -> None:
    """Stop sweeping every engine (tests switch databases)."""
    with _lock:
        _watched.clear()
        _rows.clear()
