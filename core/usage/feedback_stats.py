"""Feedback on replies for Monitoring: 👍/👎 by provider and model, and the latest comments, over a date range.

A rating counts when it was given (or last changed) inside the range. Ratings in deleted conversations are left
out at once, like the conversations themselves (purging removes them). Who may read what follows the usage views
(core.usage.dashboard.authorize): admins everyone's, a user only their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from core.models import Conversation, Feedback, Message, User, as_utc
from core.usage.dashboard import authorize
from core.usage.query import EVENT, UsageFilter

COMMENTS = 20


@dataclass(frozen=True)
class ModelFeedback:
    provider: str
    model: str
    up: int
    down: int

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def up_rate(self) -> float:
        return self.up / self.total if self.total else 0.0


@dataclass(frozen=True)
class FeedbackComment:
    when: datetime
    user: str  # the username of who rated
    provider: str
    model: str
    rating: int  # 1: 👍, -1: 👎
    comment: str
    conversation_id: int | None  # only for the viewer's own conversations: the only ones a link can open


@dataclass
class FeedbackStats:
    by_model: list[ModelFeedback] = field(default_factory=list)  # most rated first
    comments: list[FeedbackComment] = field(default_factory=list)  # newest first

    @property
    def up(self) -> int:
        return sum(m.up for m in self.by_model)

    @property
    def down(self) -> int:
        return sum(m.down for m in self.by_model)

    @property
    def up_rate(self) -> float:
        return self.up / (self.up + self.down) if self.up + self.down else 0.0


def live_feedback() -> Any:
    """Ratings of replies in conversations not deleted (message_id, user_id, rating, comment, updated_at, provider,
    model, conversation_id, owner_id), as a subquery."""
    return (
        select(col(Feedback.message_id), col(Feedback.user_id), col(Feedback.rating), col(Feedback.comment),
               col(Feedback.updated_at), func.coalesce(Message.provider, "").label("provider"),
               func.coalesce(Message.model, "").label("model"), col(Message.conversation_id),
               col(Conversation.user_id).label("owner_id"))
        .join(Message, col(Message.id) == Feedback.message_id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(col(Conversation.deleted_at).is_(None))
        .subquery("live_feedback")
    )


def _where(fb: Any, f: UsageFilter) -> ColumnElement[bool]:
    clauses = [fb.c.updated_at >= f.start, fb.c.updated_at < f.end]
    for column, value in ((fb.c.user_id, f.user_id), (fb.c.model, f.model), (fb.c.provider, f.provider)):
        if value is not None:
            clauses.append(column == value)
    # Source and team belong to the reply's call: the usage event that wrote it (events record their reply).
    e = EVENT.c
    call = [e.message_id == fb.c.message_id]
    if f.source is not None:
        call.append(e.source == f.source)
    if f.team_id is not None:
        call.append(func.coalesce(e.team_id, 0) == f.team_id)
    if len(call) > 1:
        clauses.append(exists().where(*call))
    return and_(*clauses)


def feedback_stats(*, session: Session, actor_id: int, filters: UsageFilter, comments: int = COMMENTS
                   ) -> FeedbackStats:
    """👍/👎 counts by provider and model, and the latest comments, for one usage filter."""
    authorize(session, actor_id, filters)
    fb = live_feedback()
    where = _where(fb, filters)
    up = func.sum(case((fb.c.rating > 0, 1), else_=0))
    down = func.sum(case((fb.c.rating < 0, 1), else_=0))
    grouped = session.execute(select(fb.c.provider, fb.c.model, up, down).where(where)
                              .group_by(fb.c.provider, fb.c.model)).all()
    by_model = sorted((ModelFeedback(p, m, u or 0, d or 0) for p, m, u, d in grouped),
                      key=lambda r: (-r.total, r.provider, r.model))
    latest = session.execute(
        select(fb.c.updated_at, col(User.username), fb.c.provider, fb.c.model, fb.c.rating, fb.c.comment,
               fb.c.conversation_id, fb.c.owner_id)
        .join(User, col(User.id) == fb.c.user_id)
        .where(where, fb.c.comment != "")
        .order_by(fb.c.updated_at.desc(), fb.c.message_id.desc())
        .limit(comments)
    ).all()
    return FeedbackStats(by_model=by_model, comments=[
        FeedbackComment(as_utc(when), user, provider, model, rating, comment, conv if owner == actor_id else None)
        for when, user, provider, model, rating, comment, conv, owner in latest])
