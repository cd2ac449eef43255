"""SQLModel tables and their Create/Update/Public shapes. Every datetime is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import MetaData
from sqlmodel import Field, SQLModel

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


class Role(StrEnum):
    admin = "admin"
    user = "user"


class UserStatus(StrEnum):
    active = "active"
    pending = "pending"
    disabled = "disabled"


USERNAME_MAX = 32
EMAIL_MAX = 254
DISPLAY_NAME_MAX = 100


class UserBase(SQLModel):
    # No length limits here: core.validation checks input and gives a clear message.
    username: str
    email: str
    display_name: str


class UserCreate(UserBase):
    password: str
    role: Role = Role.user


class UserUpdate(SQLModel):
    email: str | None = None
    display_name: str | None = None


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=USERNAME_MAX, unique=True, index=True)
    email: str = Field(max_length=EMAIL_MAX, unique=True, index=True)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.user.value, max_length=16)
    status: str = Field(default=UserStatus.active.value, max_length=16)
    failed_login_attempts: int = Field(default=0)
    # Cookies issued before this instant are refused (logout, disable, password change).
    sessions_valid_after: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = Field(default=None)


class UserPublic(UserBase):
    """What pages receive: never the password hash."""

    id: int
    role: str
    status: str
    created_at: datetime
    last_login_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=255)
    detail: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow, index=True)


class AuditEventPublic(SQLModel):
    id: int
    actor_id: int | None
    actor: str | None = None
    action: str
    target: str
    detail: str
    created_at: datetime
