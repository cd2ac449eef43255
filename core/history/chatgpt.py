"""ChatGPT's conversations.json: each conversation is a tree of nodes, and we keep all of it. Nodes that carry a user
or assistant message become our messages (siblings stay versions); the others (system, tool, empty) are skipped and
their children hang on the nearest message above. The branch shown ends at current_node's message. Its shape is
validated like our own export's; a tree that loops is refused, not walked forever."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ValidationError
from core.history.transfer_models import ConversationV2, MessageV2
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
    children: Any = None  # ids, in ChatGPT's version order: only a hint (the parent links make the tree)
    message: GptMessage | None = None


class GptConversation(_Loose):
    title: str | None = None
    create_time: float | None = Field(default=None, ge=0, le=LATEST)
    update_time: float | None = Field(default=None, ge=0, le=LATEST)
    current_node: str | None = None
    mapping: dict[str, GptNode]


def _in_order(conv: GptConversation) -> list[str]:
    """Every node id, each after its parent; ValidationError when parent links loop.

    The parent links make the tree (a node whose parent is missing or unknown is a root; one never reached from a
    root sits on a loop). Siblings keep the order of their parent's `children`, then the file's.
    """
    kids: dict[str | None, list[str]] = {}
    for node_id, node in conv.mapping.items():
        kids.setdefault(node.parent if node.parent in conv.mapping else None, []).append(node_id)
    for parent, siblings in kids.items():
        if parent is not None and len(siblings) > 1:
            children = conv.mapping[parent].children if isinstance(conv.mapping[parent].children, list) else []
            listed = {c: i for i, c in reversed(list(enumerate(children))) if isinstance(c, str)}
            siblings.sort(key=lambda s: listed.get(s, len(children)))  # stable: unlisted ones keep the file's order
    order: list[str] = []
    todo = list(reversed(kids.get(None, [])))
    while todo:  # depth first, without recursion: a long conversation is a deep tree
        node_id = todo.pop()
        order.append(node_id)
        todo += reversed(kids.get(node_id, []))
    if len(order) < len(conv.mapping):
        reached = set(order)
        looped = next(i for i in conv.mapping if i not in reached)
        raise ValidationError(Msg("transfer.chatgpt_cycle", node=looped[:40]))
    return order


def _when(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp else None


def _message(node: GptNode, number: int, parent: int | None) -> MessageV2 | None:
    """The node's user or assistant message with text, as message `number` of the file; None for anything else."""
    message = node.message
    if message is None or message.author is None or message.author.role not in ("user", "assistant"):
        return None
    parts = message.content.parts if message.content else []
    body = "\n".join(p for p in parts if isinstance(p, str)).strip()
    if not body:
        return None
    slug = (message.metadata or {}).get("model_slug")
    return MessageV2(id=number, parent=parent, role=message.author.role, content=body,
                     model=slug if isinstance(slug, str) else None, created_at=_when(message.create_time))


def _tree(conv: GptConversation) -> tuple[list[MessageV2], int | None]:
    """The conversation's messages, each with its file id and parent, and the id shown last (current_node's)."""
    kept: dict[str, int | None] = {}  # node id -> the id of its nearest message, itself included (None: none)
    messages: list[MessageV2] = []
    for node_id in _in_order(conv):
        node = conv.mapping[node_id]
        above = kept.get(node.parent) if node.parent is not None else None
        message = _message(node, len(messages) + 1, above)
        if message is not None:
            messages.append(message)
        kept[node_id] = message.id if message is not None else above
    return messages, kept.get(conv.current_node) if conv.current_node is not None else None


def from_chatgpt(data: list[Any]) -> list[ConversationV2]:
    """Our conversations from ChatGPT's export (pydantic errors are the caller's to word)."""
    out = []
    for raw in data:
        conv = GptConversation.model_validate(raw)
        messages, leaf = _tree(conv)
        out.append(ConversationV2(
            title=(conv.title or "Imported conversation")[:200] or "Imported conversation", provider="openai",
            model=next((m.model for m in messages if m.model), "") or "", messages=messages, leaf=leaf,
            created_at=_when(conv.create_time), updated_at=_when(conv.update_time or conv.create_time)))
    return out
