"""Search a user's history: titles and messages containing a term (case-insensitive substring), newest first.

The database's own index serves it: SQLite FTS5 trigram (kept by triggers), PostgreSQL pg_trgm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, text
from sqlmodel import Session, col, select

from core.errors import ValidationError
from core.i18n import Msg
from core.models import Conversation, as_utc
from core.validation import escape_markdown, sanitize

SNIPPET_CONTEXT = 70
QUERY_MAX = 200


@dataclass(frozen=True)
class Hit:
    conversation_id: int
    title: str
    message_id: int | None  # None: the title matched
    role: str
    snippet: str  # Markdown with the match in bold, everything else escaped
    created_at: datetime


def snippet(content: str, term: str, context: int = SNIPPET_CONTEXT) -> str:
    """The match with some text around it, as Markdown: the match in bold, the rest escaped."""
    flat = " ".join(content.split())
    at = flat.lower().find(term.lower())
    if at < 0:
        return escape_markdown(flat[: context * 2]) + ("…" if len(flat) > context * 2 else "")
    start, end = max(0, at - context), min(len(flat), at + len(term) + context)
    before, hit, after = flat[start:at], flat[at : at + len(term)], flat[at + len(term) : end]
    return (("…" if start else "") + escape_markdown(before) + f"**{escape_markdown(hit)}**" + escape_markdown(after)
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
    term = sanitize(query or "", max_chars=QUERY_MAX, one_line=True)
    if not term:
        return []
    if len(term) > QUERY_MAX:
        raise ValidationError(Msg("history.query_too_long", max=QUERY_MAX))
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
