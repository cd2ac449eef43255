"""Conversations and messages of one user: create, read, keep settings. Owner checks everywhere."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError as PydanticError
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.errors import NotFound
from core.history.transfer_models import ParamsV1
from core.i18n import Msg
from core.models import (
    Conversation,
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    Message,
    utcnow,
)

_SPACES = re.compile(r"\s+")


def title_from(text: str, limit: int) -> str:
    """A title from the first message: first line, spaces collapsed, cut at a word with an ellipsis."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    title = _SPACES.sub(" ", first).strip() or "New conversation"
    if len(title) <= limit:
        return title
    cut = title[:limit].rsplit(" ", 1)[0] if " " in title[:limit] else title[:limit]
    return cut.rstrip(" ,.;:") + "…"


def get_owned(*, session: Session, user_id: int, conversation_id: int) -> Conversation:
    """The user's own, not deleted conversation; NotFound for anything else (others' included)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.user_id != user_id or conv.deleted_at is not None:
        raise NotFound(Msg("history.not_found"))
    return conv


def create_conversation(*, session: Session, user_id: int, conv_in: ConversationCreate) -> Conversation:
    conv = Conversation.model_validate(conv_in, update={"user_id": user_id})
    session.add(conv)
    session.flush()
    return conv


def update_settings(*, session: Session, conv: Conversation, conv_in: ConversationUpdate) -> None:
    """Keep the conversation's model, system prompt and parameters as last used."""
    conv.sqlmodel_update(conv_in.model_dump(exclude_unset=True))
    conv.updated_at = utcnow()
    session.add(conv)


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def messages_of(*, session: Session, conversation_id: int) -> list[Message]:
    return list(session.exec(
        select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
    ).all())


def recent_conversations(*, session: Session, user_id: int, limit: int = 20,
                         title_contains: str | None = None) -> list[ConversationPublic]:
    """The user's latest conversations (not deleted, not archived), newest first; optionally only those whose
    title contains the text (any case; % and _ are matched literally)."""
    where: list[Any] = [Conversation.user_id == user_id, col(Conversation.deleted_at).is_(None),
                        col(Conversation.archived).is_(False)]
    if title_contains and title_contains.strip():
        where.append(func.lower(Conversation.title).contains(title_contains.strip().lower(), autoescape=True))
    rows = session.exec(
        select(Conversation).where(*where)
        .order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
        .limit(limit)
    ).all()
    return [ConversationPublic.model_validate(c) for c in rows]


def conversation_params(conv: ConversationPublic | Conversation) -> dict[str, Any]:
    """The conversation's stored parameters the chat can use; a broken value (an old import) is left out."""
    try:
        stored = json.loads(conv.params or "{}")
    except ValueError:
        return {}
    if not isinstance(stored, dict):
        return {}
    usable = {}
    for name in ParamsV1.model_fields:
        if name in stored:
            try:
                usable[name] = getattr(ParamsV1.model_validate({name: stored[name]}), name)
            except PydanticError:
                continue
    return usable


def conversation_knowledge(conv: ConversationPublic | Conversation) -> tuple[int, ...]:
    """The knowledge base ids the conversation's questions search (a broken stored value: none)."""
    try:
        stored = json.loads(conv.knowledge_bases or "[]")
    except ValueError:
        return ()
    if not isinstance(stored, list):
        return ()
    return tuple(i for i in stored if isinstance(i, int) and not isinstance(i, bool) and i > 0)
