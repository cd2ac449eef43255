"""The version of what request caches hold (core.changes): one row, a new random value on every change."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

CACHE_VERSION_ID = 1  # the only row


class CacheVersion(SQLModel, table=True):
    id: int = Field(default=CACHE_VERSION_ID, primary_key=True)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))
