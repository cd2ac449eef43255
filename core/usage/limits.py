"""Per-user limits: requests per minute/day in the shared `limits` limiter; tokens per day and budget per month
reserved before each call and settled after it (core.usage.budget), counting calls still in flight."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from limits import RateLimitItem, parse
from sqlmodel import Session, select

from core.accounts import charged_team
from core.config import LimitDefaults, Settings, get_settings
from core.errors import NotFound, RateLimited
from core.i18n import Msg
from core.limiter import moving_window
from core.models import LimitPolicy, Role, Team, User
from core.usage.budget import Budgets, Standing


@dataclass(frozen=True)
class Quota:
    """What one user has left; limits of 0 mean unlimited."""

    exempt: bool
    limits: LimitDefaults
    minute_left: int
    day_left: int
    tokens_used: int
    spent_usd: float
    team: Standing | None = None  # the charged team's month, when it has a budget
    team_name: str = ""

    def summary(self) -> Msg:
        team = self._team_parts()
        if self.exempt:
            return Msg("quota.summary", parts=team) if team else Msg("quota.none")
        parts = []
        if self.limits.requests_per_minute:
            parts.append(Msg("quota.minute", left=self.minute_left, limit=self.limits.requests_per_minute))
        if self.limits.tokens_per_day:
            parts.append(Msg("quota.tokens", left=_short(max(0, self.limits.tokens_per_day - self.tokens_used))))
        if self.limits.budget_usd_per_month:
            parts.append(Msg("quota.budget", spent=f"{self.spent_usd:,.2f}",
                             limit=f"{self.limits.budget_usd_per_month:,.2f}"))
        parts += team
        return Msg("quota.summary", parts=parts) if parts else Msg("quota.none")

    def _team_parts(self) -> list[Msg]:
        t, parts = self.team, []
        if t is not None and t.usd_limit:
            parts.append(Msg("quota.team_budget", team=self.team_name, spent=f"{t.usd_month:,.2f}",
                             limit=f"{t.usd_limit:,.2f}"))
        if t is not None and t.tokens_limit:
            parts.append(Msg("quota.team_tokens", team=self.team_name,
                             left=_short(max(0, t.tokens_limit - t.tokens_today))))
        return parts


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
        self._budgets: Budgets | None = None

    def effective(self, session: Session, user: User, team: Team | None = None) -> tuple[LimitDefaults, bool]:
        """The user's limits (role defaults, overlaid by the charged team's defaults for members, then by the
        user's own policy) and whether they are exempt."""
        return self.effective_for(session, user.id or 0, user.role, team)

    def effective_for(self, session: Session, user_id: int, role: Role,
                      team: Team | None = None) -> tuple[LimitDefaults, bool]:
        """effective(), for a caller that already knows the user's id and role."""
        exempt = self.settings.limits.admins_exempt and role == Role.admin
        limits = self.settings.limits.for_role(role).model_copy()
        if team is not None:
            for field in LimitDefaults.model_fields:
                value = getattr(team, f"member_{field}")
                if value is not None:
                    setattr(limits, field, value)
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

    @property
    def budgets(self) -> Budgets:
        """The budget ledger (created on first use: it opens the database, or Redis)."""
        if self._budgets is None:
            self._budgets = Budgets(self.settings, clock=self.clock)
        return self._budgets

    def limits_for(self, session: Session, user_id: int, known: tuple[LimitDefaults, bool] | None = None,
                   team: Team | None = None) -> tuple[LimitDefaults, bool]:
        """The user's limits and exemption (known: already read for this request), as a member of team."""
        if known is not None:
            return known
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(Msg("users.not_found"))
        return self.effective(session, user, team)

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
        limits, exempt = self.limits_for(session, user_id)
        if not exempt:
            self.consume_request(user_id, limits)

    def quota(self, session: Session, user_id: int, team: int | str | None = None) -> Quota:
        """What the user has left now, as a member of the team their requests are charged to (team: its id or
        name; None: their default team)."""
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(Msg("users.not_found"))
        charged = charged_team(session=session, user_id=user_id, requested=team)
        limits, exempt = self.effective(session, user, charged)
        left = {"minute": limits.requests_per_minute, "day": limits.requests_per_day}
        for item, window in self.windows(limits):
            left[window] = self.limiter.get_window_stats(item, *request_counter(user_id)).remaining
        standing = self.budgets.standing(user_id, limits)  # calls in flight count: they hold their worst case
        shared = self.budgets.team_standing(charged) if charged is not None else None
        return Quota(exempt, limits, left["minute"], left["day"], standing.tokens_today, standing.usd_month, shared,
                     charged.name if charged else "")
