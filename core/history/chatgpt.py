"""ChatGPT's conversations.json: each conversation is a tree of nodes; we keep the branch that ends at
current_node. Its shape is validated like our own export's; a tree that loops is refused, not walked forever."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ValidationError
from core.history.transfer_models import ConversationV1, MessageV1
from core.i18n import Msg

LATEST = 4_102_444_800  # 2100-01-01: a timestamp past it is a broken file, not a date


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GptAuthor(_Loose):
    role: str | None = None


class GptContent(_Loose):
    parts: list[Any] = Field(default_factory=list)


class GptMessage(_Loose):
    author: GptAuthor | None = None
    content: GptContent | None = None
    create_time: float | None = Field(default=None, ge=0, le=LATEST)
    metadata: dict[str, Any] | None = None


class GptNode(_Loose):
    parent: str | None = None
    message: GptMessage | None = None


class GptConversation(_Loose):
    title: str | None = None
    create_time: float | None = Field(default=None, ge=0, le=LATEST)
    update_time: float | None = Field(default=None, ge=0, le=LATEST)
    current_node: str | None = None
    mapping: dict[str, GptNode]


def _branch(conv: GptConversation) -> list[GptNode]:
    """The nodes from the root to current_node; ValidationError when a parent link loops."""
    chain, seen, node_id = [], set(), conv.current_node
    while node_id and node_id in conv.mapping:
        if node_id in seen:
            raise ValidationError(Msg("transfer.chatgpt_cycle", node=node_id[:40]))
        seen.add(node_id)
        node = conv.mapping[node_id]
        chain.append(node)
        node_id = node.parent
    chain.reverse()
    return chain


def _when(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


def _messages(chain: list[GptNode]) -> list[MessageV1]:
    out = []
    for node in chain:
        message = node.message
        if message is None or message.author is None or message.author.role not in ("user", "assistant"):
            continue
        parts = message.content.parts if message.content else []
        body = "\n".join(p for p in parts if isinstance(p, str)).strip()
        if body:
            slug = (message.metadata or {}).get("model_slug")
            out.append(MessageV1(role=message.author.role, content=body,
                                 model=slug if isinstance(slug, str) else None, created_at=_when(message.create_time)))
    return out


def from_chatgpt(data: list[Any]) -> list[ConversationV1]:
    """Our conversations from ChatGPT's export (pydantic errors are the caller's to word)."""
    out = []
    for raw in data:
        conv = GptConversation.model_validate(raw)
        messages = _messages(_branch(conv))
        out.append(ConversationV1(
            title=(conv.title or "Imported conversation")[:200] or "Imported conversation", provider="openai",
            model=next((m.model for m in messages if m.model), "") or "", messages=messages,
            created_at=_when(conv.create_time), updated_at=_when(conv.update_time or conv.create_time)))
    return out
