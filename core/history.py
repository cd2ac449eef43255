"""A user's history: list, search, rename, pin, archive, delete, purge. Every query is scoped to the owner."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, text, update
from sqlalchemy import delete as sql_delete
from sqlmodel import Session, col, select

from core.conversations import get_owned
from core.errors import ValidationError
from core.i18n import Msg
from core.models import Conversation, ConversationPublic, Message, UsageEvent, as_utc, utcnow

TITLE_MAX = 200
SNIPPET_CONTEXT = 70


@dataclass(frozen=True)
class ListFilter:
    pinned_only: bool = False
    archived: bool = False  # False: active conversations; True: the archive
    model: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class ConversationRow:
    conversation: ConversationPublic
    messages: int


@dataclass(frozen=True)
class Page:
    rows: list[ConversationRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Hit:
    conversation_id: int
    title: str
    message_id: int | None  # None: the title matched
    role: str
    snippet: str  # Markdown with the match in bold, everything else escaped
    created_at: datetime


def _conversation_filter(user_id: int, f: ListFilter) -> list[Any]:
    clauses: list[Any] = [Conversation.user_id == user_id, col(Conversation.deleted_at).is_(None),
                          Conversation.archived == f.archived]
    if f.pinned_only:
        clauses.append(col(Conversation.pinned).is_(True))
    if f.model:
        clauses.append(Conversation.model == f.model)
    if f.start:
        clauses.append(col(Conversation.updated_at) >= f.start)
    if f.end:
        clauses.append(col(Conversation.updated_at) < f.end)
    return clauses


def list_conversations(*, session: Session, user_id: int, filters: ListFilter | None = None, page: int = 1,
                       page_size: int = 20) -> Page:
    """The user's conversations, pinned first then newest first, one page at a time, with message counts."""
    where = _conversation_filter(user_id, filters or ListFilter())
    total = session.exec(select(func.count()).select_from(Conversation).where(*where)).one()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    convs = session.exec(
        select(Conversation).where(*where)
        .order_by(col(Conversation.pinned).desc(), col(Conversation.updated_at).desc(), col(Conversation.id).desc())
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    ids = [c.id for c in convs]
    counts = dict(session.exec(
        select(Message.conversation_id, func.count()).where(col(Message.conversation_id).in_(ids))
        .group_by(col(Message.conversation_id))
    ).all()) if ids else {}
    rows = [ConversationRow(ConversationPublic.model_validate(c), counts.get(c.id or 0, 0)) for c in convs]
    return Page(rows=rows, total=total, page=page, pages=pages)


def _escape_md(text_: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text_)


def snippet(content: str, term: str, context: int = SNIPPET_CONTEXT) -> str:
    """The match with some text around it, as Markdown: the match in bold, the rest escaped."""
    flat = " ".join(content.split())
    at = flat.lower().find(term.lower())
    if at < 0:
        return _escape_md(flat[: context * 2]) + ("…" if len(flat) > context * 2 else "")
    start, end = max(0, at - context), min(len(flat), at + len(term) + context)
    before, hit, after = flat[start:at], flat[at : at + len(term)], flat[at + len(term) : end]
    return (("…" if start else "") + _escape_md(before) + f"**{_escape_md(hit)}**" + _escape_md(after)
            + ("…" if end < len(flat) else ""))


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _message_hits(session: Session, user_id: int, term: str, include_archived: bool, limit: int) -> list[Any]:
    archived = "" if include_archived else "AND c.archived = false "
    base = ("SELECT m.id, m.conversation_id, m.role, m.content, m.created_at, c.title FROM {source} "
            "JOIN conversation c ON c.id = m.conversation_id "
            "WHERE {match} AND c.user_id = :uid AND c.deleted_at IS NULL " + archived +
            "ORDER BY {order} DESC LIMIT :limit")
    params: dict[str, Any] = {"uid": user_id, "limit": limit}
    if session.get_bind().dialect.name == "sqlite" and len(term) >= 3:
        # The trigram index finds substrings of 3+ characters; newest first straight from the index.
        sql = base.format(source="message_fts f JOIN message m ON m.id = f.rowid", match="message_fts MATCH :q",
                          order="f.rowid")
        params["q"] = '"' + term.replace('"', '""') + '"'
    else:
        # PostgreSQL: pg_trgm serves ILIKE; on SQLite, 1-2 characters are too short for trigrams and scan.
        op = "ILIKE" if session.get_bind().dialect.name == "postgresql" else "LIKE"
        sql = base.format(source="message m", match=f"m.content {op} :q ESCAPE '\\'", order="m.id")
        params["q"] = _like(term)
    return list(session.execute(text(sql), params).all())


def search(*, session: Session, user_id: int, query: str, include_archived: bool = True,
           limit: int = 50) -> list[Hit]:
    """Titles and messages containing query (case-insensitive substring), newest first; the user's own only."""
    term = " ".join((query or "").split())
    if not term:
        return []
    if len(term) > 200:
        raise ValidationError(Msg("history.query_too_long", max=200))
    title_match = (func.lower(Conversation.title).contains(term.lower(), autoescape=True))
    conv_where = and_(col(Conversation.user_id) == user_id, col(Conversation.deleted_at).is_(None), title_match)
    if not include_archived:
        conv_where = and_(conv_where, col(Conversation.archived).is_(False))
    titles = session.exec(select(Conversation).where(conv_where)
                          .order_by(col(Conversation.updated_at).desc()).limit(10)).all()
    hits = [Hit(c.id or 0, c.title, None, "title", snippet(c.title, term), c.updated_at) for c in titles]
    for mid, cid, role, content, created, title in _message_hits(session, user_id, term, include_archived, limit):
        hits.append(Hit(cid, title, mid, role, snippet(content, term), as_utc(created)))
    return hits


def rename(*, session: Session, user_id: int, conversation_id: int, title: str) -> None:
    clean = " ".join((title or "").split())
    if not clean:
        raise ValidationError(Msg("history.title_empty"))
    if len(clean) > TITLE_MAX:
        raise ValidationError(Msg("history.title_too_long", max=TITLE_MAX))
    conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
    conv.title = clean
    session.add(conv)
    session.commit()


def set_flags(*, session: Session, user_id: int, conversation_ids: list[int], pinned: bool | None = None,
              archived: bool | None = None) -> int:
    """Pin/unpin or archive/unarchive the user's conversations; returns how many changed."""
    values = {k: v for k, v in (("pinned", pinned), ("archived", archived)) if v is not None}
    if not values or not conversation_ids:
        return 0
    result = session.exec(update(Conversation).where(  # type: ignore[call-overload]
        col(Conversation.id).in_(conversation_ids), col(Conversation.user_id) == user_id,
        col(Conversation.deleted_at).is_(None)).values(**values))
    session.commit()
    return int(result.rowcount or 0)


def delete(*, session: Session, user_id: int, conversation_ids: list[int]) -> int:
    """Soft delete: gone from lists and search at once, purged after the retention period."""
    result = session.exec(update(Conversation).where(  # type: ignore[call-overload]
        col(Conversation.id).in_(conversation_ids), col(Conversation.user_id) == user_id,
        col(Conversation.deleted_at).is_(None)).values(deleted_at=utcnow()))
    session.commit()
    return int(result.rowcount or 0)


def purge_deleted(*, session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Remove conversations deleted more than retention_days ago, with their messages."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    ids = list(session.exec(select(Conversation.id).where(col(Conversation.deleted_at) < cutoff)).all())
    if not ids:
        return 0
    session.exec(update(UsageEvent).where(col(UsageEvent.conversation_id).in_(ids))  # type: ignore[call-overload]
                 .values(conversation_id=None))  # usage stays for the dashboards
    session.exec(sql_delete(Message).where(col(Message.conversation_id).in_(ids)))  # type: ignore[call-overload]
    session.exec(sql_delete(Conversation).where(col(Conversation.id).in_(ids)))  # type: ignore[call-overload]
    session.commit()
    return len(ids)
