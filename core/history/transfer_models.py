"""The export format "parley.export" (version 1): what a file holds, validated on import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from core.models import MessageRole, MessageStatus, as_utc
from core.validation import sanitize

SCHEMA, VERSION = "parley.export", 1
# Timestamps without a zone are taken as UTC, the way every export we know writes them.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
MAX_MESSAGES = 200_000
MAX_CONVERSATIONS = 20_000
MAX_CONTAINERS = 3_000_000  # "{" and "[" in a file, counted before it is parsed (text inside counts too)


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


class MessageV1(BaseModel):
    role: MessageRole
    content: _text(1_000_000)  # type: ignore[valid-type]
    status: MessageStatus = MessageStatus.complete
    provider: _text(64, one_line=True) | None = None  # type: ignore[valid-type]
    model: _text(128, one_line=True) | None = None  # type: ignore[valid-type]
    created_at: UtcDatetime | None = None
    sources: list[SourceV1] = Field(default_factory=list, max_length=50)

    @field_validator("status")
    @classmethod
    def _not_live(cls, status: MessageStatus) -> MessageStatus:
        # A reply that was being written when it was exported is a partial reply here: nobody is writing it.
        return MessageStatus.interrupted if status == MessageStatus.streaming else status


class ConversationV1(BaseModel):
    title: _text(200, one_line=True, empty="Imported conversation")  # type: ignore[valid-type]
    provider: _text(64, one_line=True) = "local"  # type: ignore[valid-type]
    model: _text(128, one_line=True) = ""  # type: ignore[valid-type]
    system_prompt: _text(8000) = ""  # type: ignore[valid-type]
    params: ParamsV1 = Field(default_factory=ParamsV1)
    pinned: bool = False
    archived: bool = False
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    messages: list[MessageV1] = Field(default_factory=list)


class ExportV1(BaseModel):
    schema_: str = Field(alias="schema", pattern=f"^{SCHEMA}$")
    version: int = Field(ge=1, le=VERSION)
    exported_at: UtcDatetime | None = None
    conversations: list[ConversationV1]
