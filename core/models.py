"""SQLModel tables and their Create/Update/Public shapes. Every datetime is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Column, MetaData, Text
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


def as_utc(value: datetime | date | str) -> datetime:
    """An aware UTC datetime from a database value or input: naive means UTC (how SQLite stores it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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


class MessageStatus(StrEnum):
    complete = "complete"
    interrupted = "interrupted"
    error = "error"


class Conversation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    title: str = Field(default="New conversation", max_length=200)
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    system_prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON
    pinned: bool = Field(default=False)
    archived: bool = Field(default=False)
    deleted_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class ConversationPublic(SQLModel):
    id: int
    title: str
    provider: str
    model: str
    system_prompt: str
    params: str
    pinned: bool
    archived: bool
    created_at: datetime
    updated_at: datetime


class Message(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    role: str = Field(max_length=16)  # user | assistant
    content: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default=MessageStatus.complete.value, max_length=16)
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    fallback_from: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=500)
    tokens_in: int | None = None
    tokens_out: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class MessagePublic(SQLModel):
    id: int
    role: str
    content: str
    status: str
    provider: str | None
    model: str | None
    fallback_from: str | None
    error: str | None
    tokens_in: int | None
    tokens_out: int | None
    created_at: datetime


class UsageEvent(SQLModel, table=True):
    """One provider call (a fallback turn records the failed attempt and the answering one)."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    source: str = Field(default="ui", max_length=8)  # ui | api
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    ttft_ms: float | None = None
    total_ms: float | None = None
    status: str = Field(max_length=16)
    error_kind: str | None = Field(default=None, max_length=32)
    cache_hit: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class LimitPolicy(SQLModel, table=True):
    """A user's own limits, overriding their role's defaults from config.yaml; None keeps the default."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True)
    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    budget_usd_per_month: float | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class LimitPolicyUpdate(SQLModel):
    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    budget_usd_per_month: float | None = None


# Upper edges (ms) of the time-to-first-token histogram in UsageDaily (h00..h20); h21 is the rest.
# The same list is written into migration 0004, whose triggers fill the histogram.
TTFT_EDGES_MS = [25, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500,
                 10000, 15000, 20000, 30000, 60000]


class UsageDaily(SQLModel, table=True):
    """Per UTC day, user, provider, model and source: kept by an insert trigger on usageevent."""

    day: date = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    provider: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=128)
    source: str = Field(primary_key=True, max_length=8)
    requests: int = 0
    refusals: int = 0
    errors: int = 0
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    h00: int = 0
    h01: int = 0
    h02: int = 0
    h03: int = 0
    h04: int = 0
    h05: int = 0
    h06: int = 0
    h07: int = 0
    h08: int = 0
    h09: int = 0
    h10: int = 0
    h11: int = 0
    h12: int = 0
    h13: int = 0
    h14: int = 0
    h15: int = 0
    h16: int = 0
    h17: int = 0
    h18: int = 0
    h19: int = 0
    h20: int = 0
    h21: int = 0


class UsageDailyError(SQLModel, table=True):
    day: date = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    provider: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=128)
    source: str = Field(primary_key=True, max_length=8)
    kind: str = Field(primary_key=True, max_length=32)
    n: int = 0


class ProviderCredential(SQLModel, table=True):
    """An encrypted provider key: a user's own (owner_id set) or the organisation's (owner_id None)."""

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    provider: str = Field(max_length=64)
    label: str = Field(default="", max_length=100)
    base_url: str = Field(default="", max_length=500)  # not secret: the compatible server's address
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))  # never the plaintext
    key_version: str = Field(max_length=32)
    last4: str = Field(max_length=4)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_checked_at: datetime | None = None
    last_check_status: str | None = Field(default=None, max_length=16)  # valid | invalid | unreachable


class CredentialPublic(SQLModel):
    """What anyone may see of a stored key: never the key itself."""

    id: int
    owner_id: int | None
    provider: str
    label: str
    base_url: str
    masked: str
    key_version: str
    created_at: datetime
    updated_at: datetime
    last_checked_at: datetime | None
    last_check_status: str | None


class OrgSetting(SQLModel, table=True):
    """Organisation-wide switches set by admins (audited)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="user.id")


class UserPreference(SQLModel, table=True):
    """A user's defaults: the model a new conversation starts with, its system prompt, UI language and theme."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    default_provider: str = Field(default="", max_length=64)
    default_model: str = Field(default="", max_length=128)
    default_system_prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    language: str = Field(default="", max_length=8)  # "" follows the browser
    theme: str = Field(default="system", max_length=8)  # system, light or dark
    updated_at: datetime = Field(default_factory=utcnow)


class PreferencesPublic(SQLModel):
    default_provider: str = ""
    default_model: str = ""
    default_system_prompt: str = ""
    language: str = ""
    theme: str = "system"


class PromptPreset(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=60)
    content: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class PromptPresetPublic(SQLModel):
    id: int
    name: str
    content: str
