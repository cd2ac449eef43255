"""The model catalog an admin manages over config.yaml's: one row per model an admin changed or a provider's server
was found to offer, and one row per provider saying when its models were last asked for."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

KIND_MAX = 16


class CatalogModel(SQLModel, table=True):
    """What an admin set for one model (None: config.yaml's value, else the provider's default), and when a
    provider's list last held it. A model config.yaml does not name starts disabled: it has no price yet."""

    provider: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=128)
    kind: str = Field(default="chat", max_length=KIND_MAX)  # chat | embedding
    enabled: bool | None = None
    display_name: str | None = Field(default=None, max_length=80)
    description: str | None = Field(default=None, max_length=500)
    context_window: int | None = None
    max_output: int | None = None
    vision: bool | None = None
    tools: bool | None = None
    json_mode: bool | None = None
    default_temperature: float | None = None
    default_max_tokens: int | None = None
    position: int | None = None  # order in the picker (lowest first; None: after those that have one)
    discovered_at: datetime | None = None  # first found in the provider's list
    seen_at: datetime | None = None  # last found there
    updated_at: datetime | None = None
    updated_by: int | None = Field(default=None, foreign_key="user.id")


class DiscoveryRun(SQLModel, table=True):
    """The last time a provider was asked for its models: by whom (None: the schedule), how it went."""

    provider: str = Field(primary_key=True, max_length=64)
    started_at: datetime
    finished_at: datetime | None = None
    found: int = 0  # models in the provider's list (chat and embedding)
    added: int = 0  # of them new to the catalog
    error: str | None = Field(default=None, max_length=500)  # why it could not be asked (never a key)
    started_by: int | None = Field(default=None, foreign_key="user.id")
