"""Usage events, their daily rollups (kept by insert triggers) and per-user limit overrides."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from core.models.base import EnumText, UsageKind, UsageSource, UsageStatus, utcnow

# Upper edges (ms) of the time-to-first-token histogram in UsageDaily (h00..h20); h21 is the rest.
# The same list is written into migration 0004, whose triggers fill the histogram.
TTFT_EDGES_MS = [25, 50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 7500,
                 10000, 15000, 20000, 30000, 60000]


class UsageEventBase(SQLModel):
    user_id: int = Field(foreign_key="user.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, index=True)  # the reply this call wrote (feedback on it joins here)
    source: UsageSource = Field(default=UsageSource.ui, sa_type=EnumText(UsageSource, 8))  # type: ignore[call-overload]
    kind: UsageKind = Field(default=UsageKind.chat, sa_type=EnumText(UsageKind, 16))  # type: ignore[call-overload]
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0  # of tokens_in, read from the provider's prompt cache
    cost_usd: float = 0.0
    ttft_ms: float | None = None
    total_ms: float | None = None
    status: UsageStatus = Field(sa_type=EnumText(UsageStatus, 16))  # type: ignore[call-overload]
    error_kind: str | None = Field(default=None, max_length=32)
    cache_hit: bool = Field(default=False)
    token_name: str | None = Field(default=None, max_length=60)  # the API token's name, for source = api
    estimated: bool = Field(default=False)  # the provider reported no usage: tokens counted or estimated here
    hold_id: str | None = Field(default=None, max_length=32, index=True)  # the budget hold this call settled
    team_id: int | None = Field(default=None, index=True)  # the team charged (kept when the team is deleted)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class UsageEvent(UsageEventBase, table=True):
    """One provider call (a fallback turn records the failed attempt and the answering one), or a refusal."""

    # A user's tokens today and spend this month (the limits) read one index range.
    __table_args__ = (Index("ix_usageevent_user_id_created_at", "user_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)


class LimitPolicyBase(SQLModel):
    """A user's own limits, overriding their role's defaults from config.yaml; None keeps the default."""

    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    budget_usd_per_month: float | None = None


class LimitPolicyUpdate(LimitPolicyBase):
    pass


class LimitPolicy(LimitPolicyBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class PriceOverride(SQLModel, table=True):
    """An admin's prices for one catalog model (USD per 1M tokens), over config.yaml's; changes are audited."""

    provider: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=128)
    price_in: float
    price_out: float
    price_cached_in: float | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="user.id")


class BudgetCounter(SQLModel, table=True):
    """One budget in one period: what was spent (settled) and what calls in flight hold.

    scope names the budget ("user:7:usd", "user:7:tokens"); period is its UTC month ("2026-11") or day
    ("2026-11-29"). Amounts are integers: tokens, or micro-dollars (price per 1M tokens x tokens, exactly).
    """

    scope: str = Field(primary_key=True, max_length=48)
    period: str = Field(primary_key=True, max_length=10)
    used: int = Field(default=0, sa_type=BigInteger)
    held: int = Field(default=0, sa_type=BigInteger)


class BudgetHold(SQLModel, table=True):
    """A reservation against one or more budget counters, for one provider call; settled or expired."""

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(index=True)
    parts: str  # JSON [[scope, period, amount], ...]
    expires_at: datetime = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)


class RollupKey(SQLModel):
    """The key columns every daily rollup shares: one row per UTC day, user, provider, model, source and team."""

    day: date = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    provider: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=128)
    source: str = Field(primary_key=True, max_length=8)
    team_id: int = Field(default=0, primary_key=True)  # 0: no team


class UsageDaily(RollupKey, table=True):
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


class UsageDailyError(RollupKey, table=True):
    kind: str = Field(primary_key=True, max_length=32)
    n: int = 0
