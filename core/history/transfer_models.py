"""The export format "parley.export" (version 2): what a file holds, validated on import.

Version 2 holds each conversation's whole tree: every message has an `id` (unique within its conversation) and a
`parent` (the id of an earlier message of the same conversation, or null for a first message); siblings are the
versions regenerate and edit made. `leaf` is the id of the message the branch shown ends at. Version 1 files (no
ids) are one branch: each message follows the one before it, and the last is shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import ValidationError
from core.i18n import Msg
from core.models import MessageRole, MessageStatus, as_utc
from core.validation import sanitize

SCHEMA, VERSION = "parley.export", 2
# Timestamps without a zone are taken as UTC, the way every export we know writes them.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
MAX_MESSAGES = 200_000
MAX_CONVERSATIONS = 20_000
MAX_CONTAINERS = 3_000_000  # "{" and "[" in a file, counted before it is parsed (text inside counts too)
COMMENT_MAX = 2000  # as core.history.feedback's


def _text(limit: int, *, one_line: bool = False, empty: str = "") -> Any:
    """An imported string under the text rule (core.validation), at most limit characters (empty: `empty`)."""
    return Annotated[str, AfterValidator(lambda v: sanitize(v, max_chars=limit, one_line=one_line) or empty),
                     Field(max_length=limit)]


class ParamsV1(BaseModel):
    """A conversation's parameters: only values the chat can use (anything else is refused on import)."""

    model_config = ConfigDict(extra="ignore")

    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=1_000_000)


class SourceV1(BaseModel):
    """A numbered source an answer cited (knowledge bases): where it came from and the quoted passage."""

    model_config = ConfigDict(extra="ignore")

    n: int = Field(ge=1, le=1000)
    document: _text(200, one_line=True)  # type: ignore[valid-type]
    page: int | None = Field(default=None, ge=1)
    section: _text(300, one_line=True) = ""  # type: ignore[valid-type]
    snippet: _text(2000) = ""  # type: ignore[valid-type]


class FeedbackV2(BaseModel):
    """Its owner's rating of a reply: 1 (thumbs up) or -1 (thumbs down), with an optional comment."""

    model_config = ConfigDict(extra="ignore")

    rating: Literal[1, -1]
    comment: _text(COMMENT_MAX) = ""  # type: ignore[valid-type]


class AttachmentV2(BaseModel):
    """A file sent with a user's message (an image, or a document with its text); its bytes in base64 (null: left
    out of an export that grew too big)."""

    model_config = ConfigDict(extra="ignore")

    name: _text(255, one_line=True, empty="image")  # type: ignore[valid-type]
    media_type: str = Field(default="", max_length=128)  # informative: the type is read from the bytes on import
    kind: Literal["image", "document", "passages"] = "image"
    text: _text(20_000_000) | None = None  # type: ignore[valid-type]  # a document's text, as read when it was sent
    data: str | None = None


class MessageV2(BaseModel):
    id: int | None = Field(default=None, ge=1)  # None: a version 1 file (one branch, in order)
    parent: int | None = Field(default=None, ge=1)
    role: MessageRole
    content: _text(1_000_000)  # type: ignore[valid-type]
    status: MessageStatus = MessageStatus.complete
    stop_reason: Literal["length", "stopped"] | None = None
    provider: _text(64, one_line=True) | None = None  # type: ignore[valid-type]
    model: _text(128, one_line=True) | None = None  # type: ignore[valid-type]
    created_at: UtcDatetime | None = None
    sources: list[SourceV1] = Field(default_factory=list, max_length=50)
    feedback: FeedbackV2 | None = None
    attachments: list[AttachmentV2] = Field(default_factory=list, max_length=100)

    @field_validator("status")
    @classmethod
    def _not_live(cls, status: MessageStatus) -> MessageStatus:
        # A reply that was being written when it was exported is a partial reply here: nobody is writing it.
        return MessageStatus.interrupted if status == MessageStatus.streaming else status

    @model_validator(mode="after")
    def _replies_only(self) -> MessageV2:
        if self.feedback is not None and self.role != MessageRole.assistant:
            self.feedback = None  # only replies are rated (core.history.feedback); a question's rating is dropped
        return self


class ConversationV2(BaseModel):
    title: _text(200, one_line=True, empty="Imported conversation")  # type: ignore[valid-type]
    provider: _text(64, one_line=True) = "local"  # type: ignore[valid-type]
    model: _text(128, one_line=True) = ""  # type: ignore[valid-type]
    system_prompt: _text(8000) = ""  # type: ignore[valid-type]
    params: ParamsV1 = Field(default_factory=ParamsV1)
    pinned: bool = False
    archived: bool = False
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    leaf: int | None = Field(default=None, ge=1)  # None: the last message's branch
    messages: list[MessageV2] = Field(default_factory=list)


class ExportV2(BaseModel):
    schema_: str = Field(alias="schema", pattern=f"^{SCHEMA}$")
    version: int = Field(ge=1, le=VERSION)
    exported_at: UtcDatetime | None = None
    conversations: list[ConversationV2]


def tree_of(conv: ConversationV2, number: int = 0) -> tuple[list[int | None], int | None]:
    """Each message's parent and the leaf shown, as positions in conv.messages; ValidationError for a broken tree.

    Messages without ids (version 1) are one branch shown to its end. Otherwise each id is unique in the
    conversation and each parent is an earlier message's id: a tree in file order, so no loop and no unknown parent
    can be stored. number: the conversation's place in the file, for the message. The models are left as they are
    (setting fields on 200,000 of them would cost megabytes).
    """
    parents: list[int | None] = []
    if all(m.id is None for m in conv.messages):
        for i, m in enumerate(conv.messages):
            if m.parent is not None:
                raise ValidationError(Msg("transfer.bad_parent", conversation=number, message=i + 1, parent=m.parent))
            parents.append(i - 1 if i else None)
        at = {i + 1: i for i in range(len(conv.messages))}
    else:
        at = {}
        for i, m in enumerate(conv.messages):
            if m.id is None or m.id in at:
                raise ValidationError(Msg("transfer.bad_id", conversation=number, message=i + 1, id=m.id))
            if m.parent is not None and m.parent not in at:
                raise ValidationError(Msg("transfer.bad_parent", conversation=number, message=i + 1, parent=m.parent))
            parents.append(at[m.parent] if m.parent is not None else None)
            at[m.id] = i
    if conv.leaf is not None and conv.leaf not in at:
        raise ValidationError(Msg("transfer.bad_leaf", conversation=number, leaf=conv.leaf))
    return parents, at[conv.leaf] if conv.leaf is not None else len(parents) - 1 if parents else None


def check_trees(conversations: list[ConversationV2]) -> None:
    """ValidationError naming the first conversation whose messages do not make a tree."""
    for number, conv in enumerate(conversations, start=1):
        tree_of(conv, number)
