"""Who a request is from, cached per process: token -> user, role, team charged, effective limits and the providers
with their keys, read once and reused until anything they are made of changes (core.changes).

Each request reads the one version row first; an entry built under another version, older than
core.changes.MAX_AGE_SECONDS, or whose token has expired since, is rebuilt from the database by the same checks as
ever (core.api.tokens.authenticate_token). So a revoked token, a disabled user, a new role, limits, team or key apply
to the next request on every instance, and an unchanged caller costs one indexed read instead of five transactions.
Failed authentications are never cached (each one is counted by the throttle).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, update

from core import changes
from core.accounts import charged_team
from core.api.tokens import LAST_USED_PRECISION, Caller, authenticate_token, token_hash
from core.chat import ConversationManager, ProviderChooser
from core.config import LimitDefaults, Settings
from core.db import session_scope
from core.errors import AuthError
from core.i18n import Msg
from core.models import ApiToken, Team, utcnow
from core.usage import RateLimitService

CAPACITY = 4096  # callers kept per process (least recently used first out)


@dataclass
class CallerContext:
    """What every request of one token (and team header) needs before its turn."""

    caller: Caller
    team: Team | None
    limits: tuple[LimitDefaults, bool]  # (limits, exempt) as a member of team
    providers: ProviderChooser  # keys resolved at most once per provider, then reused
    version: int
    expires_at: datetime | None
    built: float = field(default_factory=time.monotonic)
    last_used: datetime | None = None  # as last written to the token's row

    def fresh(self, version: int, now: datetime) -> bool:
        return (version != 0 and version == self.version and time.monotonic() - self.built < changes.MAX_AGE_SECONDS
                and (self.expires_at is None or now < self.expires_at))


class CallerContexts:
    """The process's cache of caller contexts; get() is thread-safe."""

    def __init__(self, *, settings: Settings, engine: Engine, manager: ConversationManager,
                 limits: RateLimitService, capacity: int = CAPACITY) -> None:
        self.settings, self.engine, self.manager, self.limits = settings, engine, manager, limits
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], CallerContext] = OrderedDict()

    def get(self, token: str, team: str | None) -> CallerContext:
        """The caller behind token, charged to team (the X-Parley-Team header: id or name, else the token's, else
        their default); AuthError or PermissionDenied as authenticate_token and charged_team say."""
        if len(token) > 200:
            raise AuthError(Msg("tokens.invalid"))
        key = (token_hash(token, self.settings), team or "")
        version = changes.current(self.engine)  # read before the rows: what is read next is at least this new
        now = utcnow()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None and entry.fresh(version, now):
            self._touch(entry, now)
            return entry
        entry = self._build(token, team, version)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()

    def _build(self, token: str, team: str | None, version: int) -> CallerContext:
        with session_scope(self.engine) as session:
            caller = authenticate_token(session=session, token=token, settings=self.settings)
            charged = charged_team(session=session, user_id=caller.user_id, requested=team or caller.team_id)
            limits = self.limits.effective_for(session, caller.user_id, caller.role, charged)
        return CallerContext(caller, charged, limits, self.manager.providers_for(caller.user_id, caller.role, version),
                             version, caller.expires_at, last_used=caller.last_used_at)

    def _touch(self, entry: CallerContext, now: datetime) -> None:
        """The token's last use, written at most once a minute (as authenticate_token does)."""
        if entry.last_used is not None and now - entry.last_used < LAST_USED_PRECISION:
            return
        entry.last_used = now
        statement = (update(ApiToken).where(col(ApiToken.id) == entry.caller.token_id).values(last_used_at=now)
                     .execution_options(synchronize_session=False))
        with session_scope(self.engine) as session:
            session.exec(statement)  # type: ignore[call-overload]
