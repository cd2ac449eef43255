"""Per-user limits: requests per minute/day in the shared `limits` limiter; tokens per day and budget
per month from the durable usage records of the current UTC day and month."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from limits import RateLimitItem, parse
from sqlalchemy import case
from sqlmodel import Session, col, func, select

from core.config import LimitDefaults, Settings, get_settings
from core.errors import NotFound, RateLimited
from core.i18n import Msg
from core.limiter import moving_window
from core.models import LimitPolicy, Role, UsageEvent, User


@dataclass(frozen=True)
class Quota:
    """What one user has left; limits of 0 mean unlimited."""

    exempt: bool
    limits: LimitDefaults
    minute_left: int
    day_left: int
    tokens_used: int
    spent_usd: float

    def summary(self) -> Msg:
        if self.exempt:
            return Msg("quota.none")
        parts = []
        if self.limits.requests_per_minute:
            parts.append(Msg("quota.minute", left=self.minute_left, limit=self.limits.requests_per_minute))
        if self.limits.tokens_per_day:
            parts.append(Msg("quota.tokens", left=_short(max(0, self.limits.tokens_per_day - self.tokens_used))))
        if self.limits.budget_usd_per_month:
            parts.append(Msg("quota.budget", spent=f"{self.spent_usd:,.2f}",
                             limit=f"{self.limits.budget_usd_per_month:,.2f}"))
        return Msg("quota.summary", parts=parts) if parts else Msg("quota.none")


REQUEST_SCOPE = "llm"


def request_counter(user_id: int) -> tuple[str, str]:
    """The identifiers of a user's request counters in the shared storage: (key, scope), slowapi's order.

    The chat and the API (slowapi's shared limit with this scope) count in the very same windows.
    """
    return f"user:{user_id}", REQUEST_SCOPE


def _short(n: int) -> str:
    return f"{n / 1000:.0f}k" if n >= 10_000 else f"{n:,}"


class RateLimitService:
    """Checks and consumes a user's limits before any provider call."""

    def __init__(self, settings: Settings | None = None, storage_uri_override: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or get_settings()
        self.limiter = moving_window(self.settings, storage_uri_override)
        self.clock = clock

    def effective(self, session: Session, user: User) -> tuple[LimitDefaults, bool]:
        """The user's limits (role defaults overlaid by their own policy) and whether they are exempt."""
        return self.effective_for(session, user.id or 0, user.role)

    def effective_for(self, session: Session, user_id: int, role: Role) -> tuple[LimitDefaults, bool]:
        """effective(), for a caller that already knows the user's id and role."""
        exempt = self.settings.limits.admins_exempt and role == Role.admin
        limits = self.settings.limits.for_role(role).model_copy()
        policy = session.exec(select(LimitPolicy).where(LimitPolicy.user_id == user_id)).first()
        if policy is not None:
            for field in LimitDefaults.model_fields:
                value = getattr(policy, field)
                if value is not None:
                    setattr(limits, field, value)
        return limits, exempt

    def windows(self, limits: LimitDefaults) -> list[tuple[RateLimitItem, str]]:
        """The user's request windows (minute, day) that are limited."""
        windows = []
        if limits.requests_per_minute:
            windows.append((parse(f"{limits.requests_per_minute} per 1 minute"), "minute"))
        if limits.requests_per_day:
            windows.append((parse(f"{limits.requests_per_day} per 1 day"), "day"))
        return windows

    def _bounds(self) -> tuple[datetime, datetime, datetime, datetime]:
        """Now, the start of today, the start of tomorrow and the start of this month (UTC)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return now, day, day + timedelta(days=1), day.replace(day=1)

    def usage_totals(self, session: Session, user_id: int) -> tuple[int, float]:
        """Tokens used today and dollars spent this month (UTC), from the usage records: one index range scan."""
        _, day, _, month = self._bounds()
        today = col(UsageEvent.created_at) >= day
        tokens = case((today, col(UsageEvent.tokens_in) + col(UsageEvent.tokens_out)), else_=0)
        row = session.exec(
            select(func.coalesce(func.sum(tokens), 0), func.coalesce(func.sum(UsageEvent.cost_usd), 0.0))
            .where(UsageEvent.user_id == user_id, col(UsageEvent.created_at) >= month)
        ).one()
        return int(row[0]), float(row[1])

    def check_budget(self, session: Session, user_id: int,
                     known: tuple[LimitDefaults, bool] | None = None) -> tuple[LimitDefaults, bool]:
        """The user's limits and exemption (known: already read for this request); RateLimited when today's
        tokens or this month's budget are used up."""
        if known is None:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(Msg("users.not_found"))
            known = self.effective(session, user)
        limits, exempt = known
        if exempt or not (limits.tokens_per_day or limits.budget_usd_per_month):
            return limits, exempt  # nothing durable to check: no sums to read
        now, _, tomorrow, month = self._bounds()
        tokens, spent = self.usage_totals(session, user_id)
        if limits.tokens_per_day and tokens >= limits.tokens_per_day:
            raise RateLimited(tomorrow, now, Msg("limits.tokens_used", limit=limits.tokens_per_day))
        if limits.budget_usd_per_month and spent >= limits.budget_usd_per_month:
            next_month = (month + timedelta(days=32)).replace(day=1)
            raise RateLimited(next_month, now, Msg("limits.budget_used", limit=f"{limits.budget_usd_per_month:,.2f}"))
        return limits, exempt

    def consume_request(self, user_id: int, limits: LimitDefaults) -> None:
        """Take one slot in each request window, or raise RateLimited saying when to try again."""
        for item, window in self.windows(limits):
            # hit() is atomic (a Lua script on Redis): parallel requests cannot share the last slot.
            if not self.limiter.hit(item, *request_counter(user_id)):
                reset_at, _ = self.limiter.get_window_stats(item, *request_counter(user_id))
                key = f"limits.refused_per_{window}" + ("_one" if item.amount == 1 else "")
                now = datetime.fromtimestamp(self.clock(), UTC)
                raise RateLimited(datetime.fromtimestamp(reset_at, UTC), now, Msg(key, limit=item.amount))

    def check_and_consume(self, session: Session, user_id: int) -> None:
        """Take one request slot, or raise RateLimited saying when to try again (nothing consumed)."""
        limits, exempt = self.check_budget(session, user_id)
        if not exempt:
            self.consume_request(user_id, limits)

    def quota(self, session: Session, user_id: int) -> Quota:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(Msg("users.not_found"))
        limits, exempt = self.effective(session, user)
        left = {"minute": limits.requests_per_minute, "day": limits.requests_per_day}
        for item, window in self.windows(limits):
            left[window] = self.limiter.get_window_stats(item, *request_counter(user_id)).remaining
        tokens, spent = self.usage_totals(session, user_id)
        return Quota(exempt, limits, left["minute"], left["day"], tokens, spent)
