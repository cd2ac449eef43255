"""Budgets reserved before each provider call and settled after it: a user's tokens per day and dollars per month.

A call holds its worst case against every budget that applies: the most input tokens its request can be billed
(core.providers.base.prompt_bound: its UTF-8 bytes plus the chat template's markers, never an estimate) plus
max_tokens, at the model's prices (cached input at the dearer of its two prices). It is refused, naming the budget
and when it renews, if any would go over. At finish, stop, error or disconnect the hold becomes the actual usage
(an estimate is never above what was held) and the rest is released. So parallel calls, on any number of
instances, can never spend past a budget: the UI and the API reserve through this same service. Dollars are
counted in pico-dollars, exact for every price (per_token_pico), so cheap calls add up to what the usage records say.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Engine, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from core.config import LimitDefaults, Settings, get_settings
from core.db import get_engine
from core.errors import RateLimited
from core.i18n import Msg
from core.models import Team, UsageEvent
from core.usage import leases
from core.usage.amounts import money, pico_limit, spent_by
from core.usage.holds import CallInfo, Hold, Over, Part, new_hold
from core.usage.ledger import DbLedger
from core.usage.ledger_redis import RedisLedger
from core.usage.lost import record_as_held, record_lost_reply
from core.usage.prices import PICO, price_of


@dataclass(frozen=True)
class Standing:
    """Where a user's budgets stand now: settled plus held by calls in flight (limits of 0: unlimited)."""

    tokens_today: int
    tokens_limit: int
    usd_month: float
    usd_limit: float
    tokens_held: int = 0  # of tokens_today, held by calls in flight
    usd_held: float = 0.0  # of usd_month, held by calls in flight


def _month(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(now: datetime) -> datetime:
    return (_month(now) + timedelta(days=32)).replace(day=1)


def _day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def seed(scope: str, period: str) -> ColumnElement[int]:
    """What the usage records already hold for a budget in a period (a counter's starting value)."""
    kind, owner, unit = scope.split(":")
    start = datetime.fromisoformat(period + ("-01" if len(period) == 7 else "")).replace(tzinfo=UTC)
    end = _next_month(start) if len(period) == 7 else start + timedelta(days=1)
    spent = (func.sum(UsageEvent.cost_usd) * PICO if unit == "usd"
             else func.sum(col(UsageEvent.tokens_in) + col(UsageEvent.tokens_out)))
    whose = col(UsageEvent.team_id if kind == "team" else UsageEvent.user_id) == int(owner)
    return (select(cast(func.coalesce(func.round(spent), 0), BigInteger))
            .where(whose, col(UsageEvent.created_at) >= start, col(UsageEvent.created_at) < end)
            .scalar_subquery())


class Budgets:
    """Reserve, settle and read a user's budgets (in Redis when REDIS_URL is set, else in the database)."""

    REAP_EVERY = 10.0  # seconds between two looks for expired holds, per process

    def __init__(self, settings: Settings | None = None, engine: Engine | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or get_settings()
        self.engine = engine or get_engine(self.settings)
        self.clock = clock
        self.ledger: DbLedger | RedisLedger = (
            RedisLedger(self.settings.redis_url, self.engine, seed, clock) if self.settings.redis_url
            else DbLedger(self.engine, seed))
        self._next_reap = 0.0
        self._reaping = threading.Lock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _parts(self, user_id: int, limits: LimitDefaults, tokens: int, pico: int,
               team: Team | None = None) -> list[Part]:
        now, parts = self._now(), self._team_parts(team, tokens, pico)
        if limits.tokens_per_day:
            parts.append(Part(f"user:{user_id}:tokens", f"{now:%Y-%m-%d}", tokens, limits.tokens_per_day))
        if limits.budget_usd_per_month and pico:  # a free model spends no money: only its tokens are held
            parts.append(Part(f"user:{user_id}:usd", f"{now:%Y-%m}", pico, pico_limit(limits.budget_usd_per_month)))
        return parts

    def _team_parts(self, team: Team | None, tokens: int, pico: int) -> list[Part]:
        """The team's monthly budgets, shared by its members: tokens, and dollars (for a paid model)."""
        if team is None:
            return []
        month, parts = f"{self._now():%Y-%m}", []
        if team.tokens_per_month:
            parts.append(Part(f"team:{team.id}:tokens", month, tokens, team.tokens_per_month))
        if team.budget_usd_per_month and pico:
            parts.append(Part(f"team:{team.id}:usd", month, pico, pico_limit(team.budget_usd_per_month)))
        return parts

    def worst_case(self, provider: str, model: str, prompt_tokens: int, max_tokens: int) -> tuple[int, int]:
        """(tokens, pico-dollars) a call of at most prompt_tokens in and max_tokens out can be billed."""
        price = price_of(provider, model, self.settings, self.engine)
        price_in, price_cached, price_out = price.per_token_pico() if price else (0, 0, 0)
        return prompt_tokens + max_tokens, prompt_tokens * max(price_in, price_cached) + max_tokens * price_out

    def reserve(self, *, user_id: int, limits: LimitDefaults, exempt: bool, provider: str, model: str,
                prompt_tokens: int, max_tokens: int, team: Team | None = None, source: str = "ui",
                token_name: str | None = None, kind: str = "chat") -> Hold | None:
        """Hold the call's worst case against the user's budgets and their team's; RateLimited naming the one it
        would overrun. prompt_tokens: the most input tokens the call can be billed (a bound, not an estimate).
        An exempt user (admins, when configured) is not held to their own limits, but a team's budget is shared
        money: it still applies. The hold remembers what the call is (for charging it if its process dies)."""
        tokens, pico = self.worst_case(provider, model, prompt_tokens, max_tokens)
        parts = self._team_parts(team, tokens, pico) if exempt else self._parts(user_id, limits, tokens, pico, team)
        if not parts:
            return None
        self.reap_expired()
        hold = new_hold(user_id, parts, CallInfo(provider, model, str(source), token_name,
                                                 team.id if team is not None else None, prompt_tokens, max_tokens,
                                                 str(kind)))
        ttl = self.settings.limits.hold_ttl_seconds
        over = self.ledger.reserve(hold, timedelta(seconds=ttl))
        if over is not None:
            raise self._refusal(over, team)
        leases.track(self.ledger, ttl, hold.id)
        return hold

    def _refusal(self, over: Over, team: Team | None) -> RateLimited:
        part, now = over.part, self._now()
        left = max(0, part.limit - over.used - over.held)
        if part.scope.endswith(":usd"):  # the same precision for all three, enough to tell them apart
            need, rest, held = money(part.amount, left, over.held)
            [limit] = money(part.limit)
        if part.scope.startswith("team:"):
            name = team.name if team else ""
            reason = (Msg("limits.team_tokens_would_exceed", need=part.amount, left=left, limit=part.limit, team=name)
                      if part.scope.endswith(":tokens") else
                      Msg("limits.team_budget_would_exceed", need=need, left=rest, limit=limit, team=name))
            renews = _next_month(now)
        elif part.scope.endswith(":tokens"):
            reason = Msg("limits.tokens_would_exceed", need=part.amount, left=left, limit=part.limit)
            renews = _day(now) + timedelta(days=1)
        else:
            reason = Msg("limits.budget_would_exceed", need=need, left=rest, limit=limit)
            renews = _next_month(now)
        if over.held:
            amount = f"{over.held:,}" if part.scope.endswith(":tokens") else "$" + held
            reason = Msg("limits.with_held", reason=reason, held=amount)
        return RateLimited(renews, now, str(reason))

    def settle(self, session: Session, hold: Hold | None, event: UsageEvent) -> None:
        """The hold becomes the call's recorded usage (in the event's transaction); the rest is released."""
        if hold is None:
            return
        event.hold_id = hold.id
        leases.untrack(self.ledger, hold.id)
        self.ledger.settle(session, hold, spent_by(hold, event))

    def release(self, hold: Hold | None) -> None:
        """Nothing was spent (the call never reached a provider)."""
        if hold is not None:
            leases.untrack(self.ledger, hold.id)
            self.ledger.release(hold)

    def charge_lost_reply(self, session: Session, *, hold_id: str | None, user_id: int, conversation_id: int,
                          provider: str, model: str, prompt_tokens: int, text: str, max_tokens: int,
                          source: str = "ui", token_name: str | None = None, team_id: int | None = None) -> None:
        """A reply whose process died (its row swept by core.chat.live, once): one usage event for its prompt and
        the text stored, estimated, and its hold (if one is still there) settled to it, in session's transaction."""
        event = record_lost_reply(session, self.settings, user_id=user_id, conversation_id=conversation_id,
                                  provider=provider, model=model, prompt_tokens=prompt_tokens, text=text,
                                  max_tokens=max_tokens, source=source, token_name=token_name, team_id=team_id)
        hold = self.held(hold_id) if hold_id else None
        if hold is not None:
            self.settle(session, hold, event)

    def held(self, hold_id: str) -> Hold | None:
        """A hold still waiting to be settled, by its id (None once settled, released or reaped)."""
        return self.ledger.find(hold_id)

    def _spent(self, hold: Hold) -> dict[str, int] | None:
        """What an expired hold's call recorded before its process died (Redis only: see the ledgers)."""
        with Session(self.engine) as session:
            event = session.execute(select(UsageEvent).where(col(UsageEvent.hold_id) == hold.id)).scalars().first()
        return None if event is None else spent_by(hold, event)

    def reap_expired(self, *, force: bool = False) -> int:
        """Settle holds whose process died, at most every REAP_EVERY seconds per process: the call is charged
        (once) as what its usage event says, or, with none, as held (core.usage.lost)."""
        now = time.monotonic()
        if not force and now < self._next_reap:
            return 0
        if not self._reaping.acquire(blocking=False):
            return 0
        try:
            self._next_reap = now + self.REAP_EVERY
            return self.ledger.reap(self._spent, self._charge_as_held)
        finally:
            self._reaping.release()

    def _charge_as_held(self, session: Session, hold: Hold) -> dict[str, int]:
        return record_as_held(session, self.settings, hold)

    def team_standing(self, team: Team) -> Standing:
        """A team's month: tokens and dollars, counting what members' calls in flight hold."""
        parts = self._team_parts(team, 0, 1)
        totals = self.ledger.read(parts) if parts else {}
        tokens = totals.get(f"team:{team.id}:tokens", (0, 0))
        pico = totals.get(f"team:{team.id}:usd", (0, 0))
        return Standing(sum(tokens), team.tokens_per_month, sum(pico) / PICO, team.budget_usd_per_month,
                        tokens[1], pico[1] / PICO)

    def standing(self, user_id: int, limits: LimitDefaults) -> Standing:
        """Tokens today and dollars this month, counting what calls in flight hold."""
        parts = self._parts(user_id, limits, 0, 1)
        totals = self.ledger.read(parts) if parts else {}
        tokens = totals.get(f"user:{user_id}:tokens", (0, 0))
        pico = totals.get(f"user:{user_id}:usd", (0, 0))
        return Standing(sum(tokens), limits.tokens_per_day, sum(pico) / PICO, limits.budget_usd_per_month,
                        tokens[1], pico[1] / PICO)

