"""Users, the audit trail, and each user's preferences and prompt presets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel, Text

from core.models.base import EnumText, Role, Theme, UserStatus, utcnow

USERNAME_MAX = 32
EMAIL_MAX = 254
DISPLAY_NAME_MAX = 100


class UserBase(SQLModel):
    # No length limits on inputs: core.validation checks them and gives a clear message.
    username: str
    email: str
    display_name: str
    role: Role = Role.user
    status: UserStatus = UserStatus.active
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class UserCreate(UserBase):
    password: str


class UserUpdate(SQLModel):
    email: str | None = None
    display_name: str | None = None


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=USERNAME_MAX, unique=True, index=True)
    email: str = Field(max_length=EMAIL_MAX, unique=True, index=True)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX)
    role: Role = Field(default=Role.user, sa_type=EnumText(Role, 16))  # type: ignore[call-overload]
    status: UserStatus = Field(default=UserStatus.active, sa_type=EnumText(UserStatus, 16))  # type: ignore[call-overload]
    password_hash: str = Field(max_length=255)
    failed_login_attempts: int = Field(default=0)
    # Cookies issued before this instant are refused (logout, disable, password change).
    sessions_valid_after: datetime = Field(default_factory=utcnow)


class UserPublic(UserBase):
    """What pages receive: never the password hash."""

    id: int


class AuditEventBase(SQLModel):
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=255)
    detail: str = Field(default="", sa_type=Text)  # JSON
    created_at: datetime = Field(default_factory=utcnow, index=True)


class AuditEvent(AuditEventBase, table=True):
    id: int | None = Field(default=None, primary_key=True)


class AuditEventPublic(AuditEventBase):
    id: int
    actor: str | None = None  # the actor's username, joined in when listed


class PreferencesBase(SQLModel):
    """A user's defaults: the model a new conversation starts with, its system prompt, UI language and theme."""

    default_provider: str = Field(default="", max_length=64)
    default_model: str = Field(default="", max_length=128)
    default_system_prompt: str = Field(default="", sa_type=Text)
    language: str = Field(default="", max_length=8)  # "" follows the browser
    theme: Theme = Field(default=Theme.system, sa_type=EnumText(Theme, 8))  # type: ignore[call-overload]


class UserPreference(PreferencesBase, table=True):
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    updated_at: datetime = Field(default_factory=utcnow)


class PreferencesPublic(PreferencesBase):
    pass


class PromptPresetBase(SQLModel):
    name: str = Field(max_length=60)
    content: str = Field(sa_type=Text)


class PromptPreset(PromptPresetBase, table=True):
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_promptpreset_user_id_name"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class PromptPresetPublic(PromptPresetBase):
    id: int
