"""Feedback on replies: a user rates an assistant reply in their own conversation 👍 (+1) or 👎 (-1), with an
optional comment; one rating per reply, changeable and removable.

    give_feedback(session=s, user_id=me, message_id=42, rating=1)                # 👍
    give_feedback(session=s, user_id=me, message_id=42, rating=-1, comment="…")  # changed to 👎, with a comment
    clear_feedback(session=s, user_id=me, message_id=42)                         # no rating any more
    feedback_for(session=s, user_id=me, message_ids=[41, 42])                    # {42: Rating(...)} for the page

Each call checks ownership like get_owned: another user's message, or one in a deleted conversation, is NotFound.
The rating goes with its message: purging a deleted conversation removes it (ON DELETE CASCADE).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from core.errors import NotFound, ValidationError
from core.history.conversations import get_owned
from core.i18n import Msg
from core.models import Feedback, Message, MessageRole, MessageStatus, as_utc, utcnow
from core.validation import sanitize

COMMENT_MAX = 2000
UP, DOWN = 1, -1


@dataclass(frozen=True)
class Rating:
    """A user's rating of one reply, as the chat page shows it."""

    message_id: int
    rating: int  # 1: 👍, -1: 👎
    comment: str
    updated_at: datetime

    @property
    def up(self) -> bool:
        return self.rating == UP


def _owned_reply(session: Session, user_id: int, message_id: int) -> Message:
    """The reply if it is in the user's own, not deleted conversation (NotFound otherwise); a question or a reply
    still being written cannot be rated."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(Msg("feedback.not_found"))
    try:
        get_owned(session=session, user_id=user_id, conversation_id=message.conversation_id)
    except NotFound:
        raise NotFound(Msg("feedback.not_found")) from None  # others' replies: not found, never "forbidden"
    if message.role != MessageRole.assistant or message.status == MessageStatus.streaming:
        raise ValidationError(Msg("feedback.reply_only"))
    return message


def _clean_comment(comment: str) -> str:
    text = sanitize(comment or "", max_chars=COMMENT_MAX)
    if len(text) > COMMENT_MAX:
        raise ValidationError(Msg("feedback.comment_too_long", length=len(text), max=COMMENT_MAX))
    return text


def give_feedback(*, session: Session, user_id: int, message_id: int, rating: int, comment: str = "") -> None:
    """Rate a reply 👍 (1) or 👎 (-1) with an optional comment; a second call replaces the rating and comment."""
    if isinstance(rating, bool) or rating not in (UP, DOWN):
        raise ValidationError(Msg("feedback.bad_rating"))
    text = _clean_comment(comment)
    _owned_reply(session, user_id, message_id)
    now = utcnow()
    values = {"message_id": message_id, "user_id": user_id, "rating": rating, "comment": text, "created_at": now,
              "updated_at": now}
    # One statement: two quick clicks (or two tabs) cannot both insert, the later one wins.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Feedback).values(**values)
    session.exec(stmt.on_conflict_do_update(  # type: ignore[call-overload]
        index_elements=["message_id"], set_={"rating": rating, "comment": text, "updated_at": now}))
    session.commit()


def clear_feedback(*, session: Session, user_id: int, message_id: int) -> bool:
    """Remove the user's rating of a reply; True if there was one."""
    _owned_reply(session, user_id, message_id)
    result = session.exec(sql_delete(Feedback).where(  # type: ignore[call-overload]
        col(Feedback.message_id) == message_id, col(Feedback.user_id) == user_id))
    session.commit()
    return bool(result.rowcount)


def feedback_for(*, session: Session, user_id: int, message_ids: Iterable[int]) -> dict[int, Rating]:
    """The user's ratings of these messages, by message id (messages without one are left out)."""
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    rows = session.exec(select(Feedback).where(col(Feedback.user_id) == user_id,
                                               col(Feedback.message_id).in_(ids))).all()
    return {f.message_id: Rating(f.message_id, f.rating, f.comment, as_utc(f.updated_at)) for f in rows}
