"""Export conversations as JSON (schema "parley.export", version 2: every version of every message) or Markdown
(the branch each conversation shows); import our JSON (versions 1 and 2) or ChatGPT's conversations.json. An import is
all or nothing: a bad file imports nothing."""

from __future__ import annotations

import json
import time
from datetime import datetime

from pydantic import ValidationError as PydanticError
from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from core.config import get_settings
from core.errors import ValidationError
from core.history.attachments import ExportRoom, exported, imported, sweep_blobs
from core.history.chatgpt import from_chatgpt
from core.history.conversations import conversation_params
from core.history.transfer_models import (
    MAX_CONTAINERS,
    MAX_CONVERSATIONS,
    MAX_MESSAGES,
    SCHEMA,
    VERSION,
    ConversationV2,
    ExportV2,
    FeedbackV2,
    MessageV2,
    SourceV1,
    check_trees,
    tree_of,
)
from core.history.tree import branch
from core.i18n import Msg
from core.models import Conversation, Feedback, Message, MessageSource, utcnow


def _owned(session: Session, user_id: int, ids: list[int] | None) -> list[Conversation]:
    stmt = select(Conversation).where(Conversation.user_id == user_id, col(Conversation.deleted_at).is_(None))
    if ids is not None:
        stmt = stmt.where(col(Conversation.id).in_(ids))
    return list(session.exec(stmt.order_by(col(Conversation.updated_at).desc())).all())


def _messages(session: Session, conv_id: int | None) -> list[Message]:
    return list(session.exec(select(Message).where(Message.conversation_id == conv_id).order_by(col(Message.id))))


def _sources(session: Session, conv_id: int | None) -> dict[int, list[SourceV1]]:
    """The numbered sources the conversation's answers cited, by message id."""
    found: dict[int, list[SourceV1]] = {}
    for row in session.exec(select(MessageSource).join(Message, col(Message.id) == MessageSource.message_id)
                            .where(Message.conversation_id == conv_id)
                            .order_by(col(MessageSource.message_id), col(MessageSource.n))):
        found.setdefault(row.message_id, []).append(SourceV1(n=row.n, document=row.document_name, page=row.page,
                                                             section=row.section, snippet=row.snippet))
    return found


def _feedback(session: Session, conv_id: int | None) -> dict[int, FeedbackV2]:
    """The ratings the conversation's replies were given, by message id."""
    rows = session.exec(select(Feedback).join(Message, col(Message.id) == Feedback.message_id)
                        .where(Message.conversation_id == conv_id))
    return {f.message_id: FeedbackV2(rating=f.rating, comment=f.comment) for f in rows}


def _conversation(session: Session, c: Conversation, room: ExportRoom) -> ConversationV2:
    """One conversation's whole tree, its messages numbered 1, 2... in the order they were written."""
    messages = _messages(session, c.id)
    cited, rated = _sources(session, c.id), _feedback(session, c.id)
    images = exported(session, [m.id for m in messages if m.role == "user"], room)
    local: dict[int | None, int] = {}  # message id -> its id in the file; a parent is always written first
    out = []
    for m in messages:
        local[m.id] = len(local) + 1
        out.append(MessageV2(id=local[m.id], parent=local.get(m.parent_id) if m.parent_id else None, role=m.role,
                             content=m.content, status=m.status, stop_reason=m.stop_reason,
                             provider=m.provider, model=m.model, created_at=m.created_at,
                             sources=cited.get(m.id or 0, []), feedback=rated.get(m.id or 0),
                             attachments=images.get(m.id or 0, [])))  # type: ignore[arg-type]
    shown = branch(messages, c.leaf_id)
    return ConversationV2(title=c.title, provider=c.provider, model=c.model, system_prompt=c.system_prompt,
                          params=conversation_params(c), pinned=c.pinned, archived=c.archived,
                          created_at=c.created_at, updated_at=c.updated_at,
                          leaf=local[shown[-1].id] if shown else None, messages=out)


def export_json(*, session: Session, user_id: int, conversation_ids: list[int] | None = None) -> str:
    """The user's conversations (all, or the given ones) as a versioned JSON document, every version included."""
    room = ExportRoom(int(get_settings().history.max_import_mb * 500_000))  # images: half of what imports
    convs = [_conversation(session, c, room) for c in _owned(session, user_id, conversation_ids)]
    doc = ExportV2(schema=SCHEMA, version=VERSION, exported_at=utcnow(), conversations=convs)
    return doc.model_dump_json(by_alias=True, indent=2)


def export_markdown(*, session: Session, user_id: int, conversation_ids: list[int] | None = None) -> str:
    """The user's conversations as Markdown, each as the page shows it: the branch shown, not the other versions."""
    parts = []
    for c in _owned(session, user_id, conversation_ids):
        lines = [f"# {c.title}", "", f"_{c.provider} · {c.model} · {c.created_at:%Y-%m-%d %H:%M} UTC_", ""]
        if c.system_prompt:
            lines += [f"> System: {c.system_prompt}", ""]
        every = _messages(session, c.id)
        messages = branch(every, c.leaf_id)
        if len(messages) < len(every):
            lines += ["_The branch shown; the other versions are in the JSON export._", ""]
        cited = _sources(session, c.id)
        for m in messages:
            who = "You" if m.role == "user" else f"Assistant ({m.model or c.model})"
            note = "" if m.status == "complete" else f" _[{m.status}]_"
            lines += [f"**{who}:**{note}", "", m.content, ""]
            lines += [f"[{s.n}] {s.document}" + (f", p. {s.page}" if s.page else f", {s.section}" if s.section else "")
                      for s in cited.get(m.id or 0, [])] + ([""] if cited.get(m.id or 0) else [])
        parts.append("\n".join(lines))
    return "\n---\n\n".join(parts)


def parse_import(raw: bytes, *, max_bytes: int) -> list[ConversationV2]:
    """Conversations from our export or ChatGPT's; ValidationError saying what is wrong."""
    if len(raw) > max_bytes:
        raise ValidationError(Msg("transfer.too_big", size=f"{len(raw) / 1e6:.1f}", limit=f"{max_bytes / 1e6:.0f}"))
    if raw.count(b"{") + raw.count(b"[") > MAX_CONTAINERS:
        # Counted before parsing: 50 MB of [{},{},...] would become 16 million objects (1.3 GB) in memory.
        raise ValidationError(Msg("transfer.too_many_objects", max=f"{MAX_CONTAINERS:,}"))
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValidationError(Msg("transfer.not_json")) from None
    except RecursionError:  # [[[[...]]]] 100,000 deep
        raise ValidationError(Msg("transfer.too_deep")) from None
    try:
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            conversations = ExportV2.model_validate(data).conversations
        elif isinstance(data, list) and all(isinstance(i, dict) and "mapping" in i for i in data):
            conversations = from_chatgpt(data)
        else:
            raise ValidationError(Msg("transfer.unknown_format"))
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(Msg("transfer.bad_format", where=where, detail=first["msg"])) from None
    if sum(len(c.messages) for c in conversations) > MAX_MESSAGES:
        raise ValidationError(Msg("transfer.too_many", max=MAX_MESSAGES))
    if len(conversations) > MAX_CONVERSATIONS:
        raise ValidationError(Msg("transfer.too_many_conversations", max=MAX_CONVERSATIONS))
    check_trees(conversations)  # ids, parents and leaves: a tree, or nothing
    return conversations


def import_conversations(*, session: Session, user_id: int, raw: bytes, max_bytes: int,
                         slice_seconds: float = 0.2) -> int:
    """Add the file's conversations to the user's history, all or nothing; returns how many.

    Written in short transactions (about `slice_seconds` of work each), so a big import never holds the
    database's write lock for long; on SQLite it then steps aside for a moment so a waiting writer (another user's
    chat) gets the lock instead of starving. Each conversation stays hidden (soft-deleted) until the last one is
    in, then all appear in short updates. A failure removes what was written; a crash leaves only hidden rows,
    purged with deleted conversations.
    """
    conversations = parse_import(raw, max_bytes=max_bytes)
    pause = 0.1 if session.get_bind().dialect.name == "sqlite" else 0.0
    hidden_at, written = utcnow(), []
    try:
        start = 0
        while start < len(conversations):
            began, end = time.monotonic(), start
            while end < len(conversations) and (end == start or time.monotonic() - began < slice_seconds):
                written += _write(session, user_id, conversations[end:end + 10], hidden_at)
                end = min(end + 10, len(conversations))
            session.commit()  # releases the write lock between slices
            start = end
            time.sleep(pause)  # SQLite's busy handler retries every 100 ms at most: leave it a window
        for chunk in _chunks(written, 500):
            reveal = (update(Conversation).where(col(Conversation.id).in_(chunk))
                      .values(deleted_at=None).execution_options(synchronize_session=False))
            session.exec(reveal)  # type: ignore[call-overload]
            session.commit()
    except Exception:
        session.rollback()
        _remove(session, written)
        raise
    return len(conversations)


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _write(session: Session, user_id: int, conversations: list[ConversationV2], hidden_at: datetime) -> list[int]:
    ids = []
    for c in conversations:
        created = c.created_at or hidden_at
        conv = Conversation(user_id=user_id, title=c.title, provider=c.provider, model=c.model,
                            system_prompt=c.system_prompt, params=json.dumps(c.params.model_dump()),
                            pinned=c.pinned, archived=c.archived, created_at=created,
                            updated_at=c.updated_at or created, deleted_at=hidden_at)
        session.add(conv)
        session.flush()
        ids.append(conv.id or 0)
        stored = _insert_messages(session, conv.id or 0, c, created)
        parents, leaf = tree_of(c)  # checked by parse_import: each parent is an earlier message
        links = [{"id": stored[i], "parent_id": stored[p]} for i, p in enumerate(parents) if p is not None]
        if links:  # by primary key, in one executemany
            session.exec(update(Message), params=links)
        conv.leaf_id = stored[leaf] if leaf is not None else None
        # The answers' numbered sources (quoted passages; the documents are not part of it), and the ratings of
        # replies: the importing user's now, as the conversation is.
        session.add_all(MessageSource(message_id=stored[i], n=src.n, document_name=src.document, page=src.page,
                                      section=src.section, snippet=src.snippet)
                        for i, m in enumerate(c.messages) for src in m.sources)
        session.add_all(Feedback(message_id=stored[i], user_id=user_id, rating=m.feedback.rating,
                                 comment=m.feedback.comment)
                        for i, m in enumerate(c.messages) if m.feedback is not None)
        for i, m in enumerate(c.messages):  # images, read and checked as if sent now
            if m.attachments:
                imported(session, stored[i], m.attachments, get_settings())
    return ids


def _insert_messages(session: Session, conv_id: int, c: ConversationV2, created: datetime) -> list[int]:
    """The conversation's messages in one insert; their ids, in file order."""
    if not c.messages:
        return []
    rows = [{"conversation_id": conv_id, "role": m.role, "content": m.content, "status": m.status,
             "stop_reason": m.stop_reason, "provider": m.provider, "model": m.model,
             "created_at": m.created_at or created} for m in c.messages]
    stmt = insert(Message).returning(col(Message.id), sort_by_parameter_order=True)
    return list(session.exec(stmt, params=rows).scalars())


def _remove(session: Session, ids: list[int]) -> None:
    """Undo a failed import's earlier batches (they are still hidden)."""
    for chunk in _chunks(ids, 500):
        session.exec(sql_delete(Message).where(col(Message.conversation_id).in_(chunk)))  # type: ignore[call-overload]
        session.exec(sql_delete(Conversation).where(col(Conversation.id).in_(chunk)))  # type: ignore[call-overload]
    sweep_blobs(session)
    session.commit()
