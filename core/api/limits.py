"""slowapi on the API, counting in the chat's own request windows; a throttle on failed authentications.

The Limiter is slowapi's, with the storage swapped for the process's shared `limits` storage (slowapi would
build a second one: in memory that is a separate counter). Its shared limit has the chat's scope and key
(core.usage.request_counter), so ten requests split between the chat and the API use the same ten slots.
A user's windows come from their role and overrides; authentication publishes them for slowapi to read.
"""

from __future__ import annotations

import time

from fastapi import Request
from limits import parse
from limits.strategies import MovingWindowRateLimiter
from slowapi import Limiter

from core.api.errors import ApiError
from core.config import LimitDefaults, Settings
from core.i18n import Msg
from core.limiter import limiter_storage, moving_window, storage_uri
from core.usage import REQUEST_SCOPE, RateLimitService, request_counter


def _caller_key(request: Request) -> str:
    return str(request.state.rate_key)


def _caller_exempt(request: Request) -> bool:
    return bool(request.state.rate_exempt)


class ApiLimits:
    """The API's side of the shared limits: slowapi's shared limit, the rate headers, the auth throttle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.service = RateLimitService(settings)
        uri = storage_uri(settings)
        self.slowapi = Limiter(key_func=_caller_key, strategy="moving-window", storage_uri=uri,
                               key_style="endpoint")
        storage = limiter_storage(uri)
        self.slowapi._storage = storage  # the one storage the chat and the login throttle count in
        self.slowapi._limiter = MovingWindowRateLimiter(storage)
        self._windows: dict[str, str] = {}
        self.requests = self.slowapi.shared_limit(self._limit_for, scope=REQUEST_SCOPE, exempt_when=_caller_exempt)
        self._auth = moving_window(settings)
        self._auth_failures = parse(f"{settings.api.failed_auth_per_minute} per 1 minute")

    def publish(self, request: Request, user_id: int, limits: LimitDefaults, exempt: bool) -> None:
        """Tell slowapi this caller's windows (read by _limit_for for this request)."""
        key = request_counter(user_id)[0]
        windows = self.service.windows(limits)
        request.state.rate_key = key
        request.state.rate_exempt = exempt or not windows
        request.state.rate_windows = windows
        if windows:
            self._windows[key] = ";".join(f"{item.amount} per {item.multiples} {item.GRANULARITY.name}"
                                          for item, _ in windows)

    def _limit_for(self, key: str) -> str:
        return self._windows[key]

    def headers(self, request: Request) -> dict[str, str]:
        """x-ratelimit-* for the caller's tightest request window (none when unlimited)."""
        windows = getattr(request.state, "rate_windows", None)
        if not windows or getattr(request.state, "rate_exempt", True):
            return {}
        key = (request.state.rate_key, REQUEST_SCOPE)
        stats = [(self.service.limiter.get_window_stats(item, *key), item) for item, _ in windows]
        (reset_at, remaining), item = min(stats, key=lambda s: (s[0].remaining, s[1].get_expiry()))
        reset_in = max(0, int(reset_at - time.time()))
        return {"x-ratelimit-limit-requests": str(item.amount), "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": f"{reset_in}s"}

    def check_auth_throttle(self, client: str) -> None:
        """429 while this client address has failed to authenticate too often (token guessing)."""
        if not self._auth.test(self._auth_failures, "api-auth-fail", client):
            reset_at, _ = self._auth.get_window_stats(self._auth_failures, "api-auth-fail", client)
            wait = max(1, int(reset_at - time.time()))
            raise ApiError(429, str(Msg("tokens.throttled", seconds=wait)), code="rate_limit_exceeded",
                           headers={"Retry-After": str(wait)})

    def record_auth_failure(self, client: str) -> None:
        self._auth.hit(self._auth_failures, "api-auth-fail", client)
