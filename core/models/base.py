"""What every table shares: the metadata's naming convention, UTC time, and enum-typed string columns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import MetaData, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# Named constraints so later migrations can alter them (batch mode on SQLite needs the names).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    """Now, timezone-aware UTC (naive datetimes are refused by the column type)."""
    return datetime.now(UTC)


def as_utc(value: datetime | date | str) -> datetime:
    """An aware UTC datetime from a database value or input: naive means UTC (how SQLite stores it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EnumText(TypeDecorator[Any]):
    """A StrEnum kept as its value in a VARCHAR column: the schema stays a plain string, code gets the enum."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class Role(StrEnum):
    admin = "admin"
    user = "user"


class UserStatus(StrEnum):
    active = "active"
    pending = "pending"
    disabled = "disabled"


class MessageRole(StrEnum):
    user = "user"
    assistant = "assistant"


class MessageStatus(StrEnum):
    """`streaming`: being written right now (stored as it streams, so losing an instance loses at most ~1 s)."""

    streaming = "streaming"
    complete = "complete"
    interrupted = "interrupted"
    error = "error"


class UsageSource(StrEnum):
    ui = "ui"
    api = "api"


class UsageKind(StrEnum):
    """What a provider call was for: a chat reply (UI or API), embeddings for a knowledge base, a question put in
    the documents' language before searching them, or the found passages put in order by the model."""

    chat = "chat"
    embedding = "embedding"
    translation = "translation"
    rerank = "rerank"


class UsageStatus(StrEnum):
    """A provider call's outcome; `refused` is a request our limits turned away before any call."""

    complete = "complete"
    interrupted = "interrupted"
    error = "error"
    refused = "refused"


class CheckStatus(StrEnum):
    valid = "valid"
    invalid = "invalid"
    unreachable = "unreachable"


class Theme(StrEnum):
    system = "system"
    light = "light"
    dark = "dark"
