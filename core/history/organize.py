"""Browse and organise a user's conversations: list with filters and pages, rename, pin, archive, delete, purge.

Every query is scoped to the owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from core.errors import ValidationError
from core.history.attachments import sweep_blobs
from core.history.conversations import get_owned
from core.i18n import Msg
from core.models import Conversation, ConversationPublic, Message, UsageEvent, utcnow
from core.validation import sanitize

TITLE_MAX = 200


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


def rename(*, session: Session, user_id: int, conversation_id: int, title: str) -> None:
    clean = sanitize(title or "", max_chars=TITLE_MAX, one_line=True)  # the text rule: no bidi tricks in titles
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


def restore(*, session: Session, user_id: int, conversation_ids: list[int]) -> int:
    """Undo a soft delete of the user's own conversations (not yet purged); returns how many came back."""
    if not conversation_ids:
        return 0
    result = session.exec(update(Conversation).where(  # type: ignore[call-overload]
        col(Conversation.id).in_(conversation_ids), col(Conversation.user_id) == user_id,
        col(Conversation.deleted_at).is_not(None)).values(deleted_at=None))
    session.commit()
    return int(result.rowcount or 0)


def purge_deleted(*, session: Session, retention_days: int, now: datetime | None = None) -> int:
    """Remove conversations deleted more than retention_days ago, with their messages and attachments."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    ids = list(session.exec(select(Conversation.id).where(col(Conversation.deleted_at) < cutoff)).all())
    if not ids:
        return 0
    session.exec(update(UsageEvent).where(col(UsageEvent.conversation_id).in_(ids))  # type: ignore[call-overload]
                 .values(conversation_id=None))  # usage stays for the dashboards
    session.exec(sql_delete(Message).where(col(Message.conversation_id).in_(ids)))  # type: ignore[call-overload]
    session.exec(sql_delete(Conversation).where(col(Conversation.id).in_(ids)))  # type: ignore[call-overload]
    sweep_blobs(session)  # the attachments went with their messages; their bytes once nothing names them
    session.commit()
    return len(ids)
