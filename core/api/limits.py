"""slowapi on the API, counting in the chat's own request windows; a throttle on failed authentications.

The Limiter is slowapi's, with the storage swapped for the process's shared `limits` storage (slowapi would
build a second one: in memory that is a separate counter). Its shared limit has the chat's scope and key
(core.usage.request_counter), so ten requests split between the chat and the API use the same ten slots.
A user's windows come from their role and overrides; authentication publishes them on the request, and the
decorator hands them to slowapi in the endpoint's own thread (a context variable: never another request's).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from fastapi import Request
from limits import parse
from limits.strategies import MovingWindowRateLimiter
from slowapi import Limiter

from core.api.errors import ApiError
from core.config import LimitDefaults, Settings
from core.i18n import Msg
from core.limiter import limiter_storage, moving_window, storage_uri
from core.usage import REQUEST_SCOPE, RateLimitService, request_counter

# The windows slowapi checks for the request running in this context (set by ApiLimits.requests' wrapper).
_windows: ContextVar[str] = ContextVar("parley_api_windows", default="")
# slowapi reads a dynamic limit before it asks whether the caller is exempt: an exempt caller (no window: limits
# of 0 are "unlimited") still needs a limit that parses. It is never counted (exempt_when skips it).
UNCOUNTED = "1 per 1 second"


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
        self._counted = self.slowapi.shared_limit(_limit_for, scope=REQUEST_SCOPE, exempt_when=_caller_exempt)
        self._auth = moving_window(settings)
        self._auth_failures = parse(f"{settings.api.failed_auth_per_minute} per 1 minute")

    def publish(self, request: Request, user_id: int, limits: LimitDefaults, exempt: bool) -> None:
        """Tell slowapi this caller's windows (read by _limit_for for this request)."""
        key = request_counter(user_id)[0]
        windows = self.service.windows(limits)
        request.state.rate_key = key
        request.state.rate_exempt = exempt or not windows
        request.state.rate_windows = windows
        request.state.rate_limit = ";".join(f"{item.amount} per {item.multiples} {item.GRANULARITY.name}"
                                            for item, _ in windows) or UNCOUNTED

    def requests(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        """slowapi's shared limit on endpoint, checking the windows that authentication published for its request."""
        counted = self._counted(endpoint)

        @functools.wraps(endpoint)
        def with_windows(*args: Any, **kwargs: Any) -> Any:
            token = _windows.set(getattr(kwargs["request"].state, "rate_limit", UNCOUNTED))
            try:
                return counted(*args, **kwargs)
            finally:
                _windows.reset(token)

        return with_windows

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

    def failed_auth(self, client: str) -> ApiError | None:
        """Count a token that did not authenticate; the 429 to answer instead of 401 once this client address has
        failed too often (token guessing). Called only after a failure: a valid token is never refused for them."""
        if self._auth.hit(self._auth_failures, "api-auth-fail", client):
            return None
        reset_at, _ = self._auth.get_window_stats(self._auth_failures, "api-auth-fail", client)
        wait = max(1, int(reset_at - time.time()))
        return ApiError(429, str(Msg("tokens.throttled", seconds=wait)), code="rate_limit_exceeded",
                        headers={"Retry-After": str(wait)})


def _limit_for(key: str) -> str:
    del key  # the caller's windows are the request's, not the key's (two requests of one user may differ by team)
    return _windows.get() or UNCOUNTED
