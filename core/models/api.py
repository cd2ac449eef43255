"""Personal API tokens: a keyed hash of each token is stored, never the token."""

from __future__ import annotations

from datetime import datetime

from pydantic import computed_field
from sqlmodel import Field, SQLModel

from core.models.base import utcnow

TOKEN_PREFIX = "pk-"
TOKEN_NAME_MAX = 60


class ApiTokenBase(SQLModel):
    name: str = Field(max_length=TOKEN_NAME_MAX)
    last4: str = Field(max_length=4)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None  # to the minute: not written on every request
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    team_id: int | None = None  # requests with this token are charged to this team (the owner must belong to it)


class ApiToken(ApiTokenBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    # HMAC-SHA256 of the token under the server's token key: one indexed lookup per request.
    token_hash: str = Field(max_length=64, unique=True, index=True)


class ApiTokenPublic(ApiTokenBase):
    id: int
    user_id: int
    owner: str | None = None  # the owner's username, joined in for admins

    @computed_field  # type: ignore[prop-decorator]
    @property
    def masked(self) -> str:
        return f"{TOKEN_PREFIX}…{self.last4}"

    def state(self, now: datetime) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"
