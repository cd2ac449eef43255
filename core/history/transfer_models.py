"""The export format "parley.export" (version 1): what a file holds, validated on import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from core.models import MessageRole, MessageStatus, as_utc

SCHEMA, VERSION = "parley.export", 1
# Timestamps without a zone are taken as UTC, the way every export we know writes them.
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
MAX_MESSAGES = 200_000


class MessageV1(BaseModel):
    role: MessageRole
    content: str = Field(max_length=1_000_000)
    status: MessageStatus = MessageStatus.complete
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    created_at: UtcDatetime | None = None


class ConversationV1(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    provider: str = Field(default="local", max_length=64)
    model: str = Field(default="", max_length=128)
    system_prompt: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
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
