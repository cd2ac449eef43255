"""Conversations and their messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, text
from sqlmodel import Field, SQLModel, Text

from core.models.base import EnumText, MessageRole, MessageStatus, utcnow


class ConversationBase(SQLModel):
    title: str = Field(default="New conversation", max_length=200)
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    system_prompt: str = Field(default="", sa_type=Text)
    params: str = Field(default="{}", sa_type=Text)  # JSON: temperature, max_tokens
    knowledge_bases: str = Field(default="[]", sa_type=Text)  # JSON: the knowledge base ids its questions search
    pinned: bool = Field(default=False)
    archived: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class ConversationCreate(ConversationBase):
    pass


class ConversationUpdate(SQLModel):
    """The settings a conversation keeps as last used (every field optional)."""

    provider: str | None = None
    model: str | None = None
    system_prompt: str | None = None
    params: str | None = None
    knowledge_bases: str | None = None


class Conversation(ConversationBase, table=True):
    # A user's list and search, newest first, straight from the index.
    __table_args__ = (Index("ix_conversation_user_id_updated_at", "user_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    deleted_at: datetime | None = Field(default=None)
    # The message at the end of the branch shown (versions: core.history.tree); None: the newest message.
    leaf_id: int | None = Field(default=None)


class ConversationPublic(ConversationBase):
    id: int
    leaf_id: int | None = None


class MessageBase(SQLModel):
    role: MessageRole = Field(sa_type=EnumText(MessageRole, 16))  # type: ignore[call-overload]
    content: str = Field(default="", sa_type=Text)
    status: MessageStatus = Field(default=MessageStatus.complete,
                                  sa_type=EnumText(MessageStatus, 16))  # type: ignore[call-overload]
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    fallback_from: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=500)
    tokens_in: int | None = None
    tokens_out: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # The message this one answers or follows (None: the first); siblings under one parent are versions.
    parent_id: int | None = Field(default=None, index=True)
    # Why a reply ended early: "length" (the token limit) or "stopped" (by its user); None: it finished.
    stop_reason: str | None = Field(default=None, max_length=16)


class MessageCreate(MessageBase):
    pass


class Message(MessageBase, table=True):
    # Only the rows being streamed: the reaper's look-up stays tiny at any history size.
    __table_args__ = (Index("ix_message_streaming", "flushed_at", sqlite_where=text("status = 'streaming'"),
                            postgresql_where=text("status = 'streaming'")),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    # While streaming: when its process last flushed or vouched for it (a partial index finds the stale ones).
    flushed_at: datetime | None = Field(default=None)
    # While streaming: what its call is (JSON: budget hold, source, API token, team, prompt tokens, max_tokens), so
    # that if its process dies the instance that sweeps the row charges the call once (core.chat.live).
    live_call: str | None = Field(default=None, sa_type=Text)


class MessagePublic(MessageBase):
    id: int


class Feedback(SQLModel, table=True):
    """A user's rating of a reply (one per reply, changeable) with an optional comment."""

    # Goes with its message (purge of deleted conversations).
    message_id: int = Field(foreign_key="message.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True)
    rating: int  # 1: thumbs up, -1: thumbs down
    comment: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class AttachmentBlob(SQLModel, table=True):
    """A file's bytes, stored once by their SHA-256 (sent again, or kept by an edited version: one row)."""

    sha256: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_type=LargeBinary)


class Attachment(SQLModel, table=True):
    """A file sent with a user's message (an image or a document): what it is, a thumbnail the thread shows (an
    image's) or the text read from it (a document's), its bytes by hash.

    In the database, not under data/: the instances behind one proxy share the database and not a disk, a message
    and its files commit together (a refusal stores nothing), and backups, restores and purges already cover it."""

    id: int | None = Field(default=None, primary_key=True)
    # Goes with its message (purge of deleted conversations); its blob goes when no attachment names it.
    message_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    position: int = 0
    name: str = Field(default="", max_length=255)
    media_type: str = Field(max_length=128)
    size_bytes: int = 0
    width: int = 0
    height: int = 0
    # Its bytes: a blob stays while an attachment names it (a purge's sweep cannot take it from under a new one).
    sha256: str = Field(foreign_key="attachmentblob.sha256", max_length=64, index=True)
    thumbnail: bytes = Field(sa_type=LargeBinary)  # images only (a document's is empty)
    # image | document (its text goes with the message) | passages (a long document: its best passages are
    # retrieved for each question and cited, core.chat.passages)
    kind: str = Field(default="image", max_length=16)
    text: str = Field(default="", sa_type=Text)  # a document's text, as read from it
    passages: str = Field(default="", sa_type=Text)  # a long document's passages: JSON [[text, page, section], ...]
