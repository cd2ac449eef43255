"""A conversation is a tree: regenerate and edit add a sibling version instead of overwriting.

Each message has a parent (None: the first message); the conversation keeps the leaf of the branch it shows. The
branch is what the page shows, what is sent as context and what is exported first; the other versions stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlmodel import Session, col, select

from core.errors import NotFound
from core.history.conversations import get_owned
from core.i18n import Msg
from core.models import Conversation, ConversationPublic, Message, MessagePublic


class Node(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def parent_id(self) -> int | None: ...


N = TypeVar("N", bound=Node)


@dataclass(frozen=True)
class Version:
    """Where a message stands among its siblings: n of total (1-based), and their ids oldest first."""

    n: int
    total: int
    siblings: tuple[int, ...]


@dataclass(frozen=True)
class Thread:
    """A conversation as shown: its branch, and each branched message's versions."""

    conversation: ConversationPublic
    messages: list[MessagePublic]
    versions: dict[int, Version]


def _children(nodes: Sequence[Node]) -> dict[int | None, list[int]]:
    kids: dict[int | None, list[int]] = {}
    for node in sorted(nodes, key=lambda n: n.id or 0):
        kids.setdefault(node.parent_id, []).append(node.id or 0)
    return kids


def newest_leaf(nodes: Sequence[Node], start: int) -> int:
    """The end of the branch under start, taking the newest child at each step."""
    kids, at, seen = _children(nodes), start, {start}
    while kids.get(at):
        at = kids[at][-1]
        if at in seen:  # a cycle cannot be stored by the app; never loop on one
            break
        seen.add(at)
    return at


def branch(nodes: Sequence[N], leaf_id: int | None) -> list[N]:
    """The messages from the first to leaf_id (unknown or None: the newest message's branch)."""
    if not nodes:
        return []
    by_id = {n.id: n for n in nodes}
    at: int | None = leaf_id if leaf_id in by_id else max(by_id, key=lambda i: i or 0)
    shown: list[N] = []
    while at is not None and at in by_id and len(shown) < len(nodes):
        shown.append(by_id[at])
        at = by_id[at].parent_id
    shown.reverse()
    return shown


def versions_of(nodes: Sequence[Node], shown: Sequence[Node]) -> dict[int, Version]:
    """Each shown message that has siblings: which version it is."""
    kids = _children(nodes)
    found = {}
    for node in shown:
        siblings = kids.get(node.parent_id, [])
        if len(siblings) > 1:
            found[node.id or 0] = Version(siblings.index(node.id or 0) + 1, len(siblings), tuple(siblings))
    return found


def current_branch(*, session: Session, conv: Conversation) -> list[Message]:
    """The branch the conversation shows, first message first."""
    every = list(session.exec(select(Message).where(Message.conversation_id == conv.id).order_by(col(Message.id))))
    return branch(every, conv.leaf_id)


def read_thread(*, session: Session, user_id: int, conversation_id: int) -> Thread:
    """A conversation's branch and versions, for its owner only."""
    conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
    every = list(session.exec(select(Message).where(Message.conversation_id == conv.id).order_by(col(Message.id))))
    shown = branch(every, conv.leaf_id)
    return Thread(ConversationPublic.model_validate(conv), [MessagePublic.model_validate(m) for m in shown],
                  versions_of(every, shown))


def read_conversation(*, session: Session, user_id: int, conversation_id: int) -> tuple[ConversationPublic,
                                                                                        list[MessagePublic]]:
    """A conversation and the messages of the branch it shows, for its owner only."""
    thread = read_thread(session=session, user_id=user_id, conversation_id=conversation_id)
    return thread.conversation, thread.messages


def set_leaf(*, session: Session, conv: Conversation, message_id: int | None) -> None:
    """Show the branch ending at message_id (the conversation keeps the choice)."""
    conv.leaf_id = message_id
    session.add(conv)


def show_version(*, session: Session, user_id: int, conversation_id: int, message_id: int) -> None:
    """Switch to the version message_id of its siblings: its branch (the newest one under it) is shown."""
    conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
    nodes = list(session.exec(select(Message).where(Message.conversation_id == conv.id)).all())
    if message_id not in {n.id for n in nodes}:
        raise NotFound(Msg("history.not_found"))
    conv.leaf_id = newest_leaf(nodes, message_id)
    session.add(conv)
    session.commit()
