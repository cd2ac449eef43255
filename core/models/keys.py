"""Provider keys (encrypted) and the organisation's switches."""

from __future__ import annotations

from datetime import datetime

from pydantic import computed_field
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel, Text

from core.models.base import CheckStatus, EnumText, utcnow

KEY_PREFIXES = {"openai": "sk-", "anthropic": "sk-ant-"}


class CredentialBase(SQLModel):
    """What anyone may see of a stored key: never the key itself (last4 is shown masked)."""

    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)  # None: the organisation's
    provider: str = Field(max_length=64)
    label: str = Field(default="", max_length=100)
    base_url: str = Field(default="", max_length=500)  # not secret: the compatible server's address
    key_version: str = Field(max_length=32)
    last4: str = Field(max_length=4)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_checked_at: datetime | None = None
    last_check_status: CheckStatus | None = Field(default=None,
                                                  sa_type=EnumText(CheckStatus, 16))  # type: ignore[call-overload]


class ProviderCredential(CredentialBase, table=True):
    # One key per provider for each user, and one for the organisation (owner_id NULL).
    __table_args__ = (
        Index("uq_providercredential_owner_provider", "owner_id", "provider", unique=True,
              sqlite_where=text("owner_id IS NOT NULL"), postgresql_where=text("owner_id IS NOT NULL")),
        Index("uq_providercredential_org_provider", "provider", unique=True,
              sqlite_where=text("owner_id IS NULL"), postgresql_where=text("owner_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    ciphertext: str = Field(sa_type=Text)  # never the plaintext


class CredentialPublic(CredentialBase):
    id: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def masked(self) -> str:
        return f"{KEY_PREFIXES.get(self.provider, '')}…{self.last4}"


class OrgSetting(SQLModel, table=True):
    """Organisation-wide switches set by admins (audited)."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="user.id")
