"""Login throttling on the `limits` library: per username and per client, in memory or Redis."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse

from core.config import Settings, get_settings
from core.errors import LoginThrottled
from core.limiter import moving_window

# A client address gets more room than a username: several people may share one NAT address.
CLIENT_FACTOR = 4


class LoginThrottle:
    """Counts failed logins; after max_failures within the window, locks for lockout_minutes."""

    def __init__(self, settings: Settings | None = None, storage_uri_override: str | None = None) -> None:
        settings = settings or get_settings()
        login = settings.login
        # The same limiter as the chat limits: shared by every instance when Redis is configured.
        self.limiter = moving_window(settings, storage_uri_override)
        self.failures = parse(f"{login.max_failures} per {login.window_minutes} minutes")
        self.client_failures = parse(
            f"{login.max_failures * CLIENT_FACTOR} per {login.window_minutes} minutes"
        )
        self.lock = parse(f"1 per {login.lockout_minutes} minutes")

    def _keys(self, username: str, client: str | None) -> list[tuple[RateLimitItem, str, str]]:
        keys = [(self.failures, "user", username.lower())]
        if client:
            keys.append((self.client_failures, "client", client))
        return keys

    def check(self, username: str, client: str | None = None) -> None:
        """Raise LoginThrottled while the username or the client is locked out."""
        for _, kind, ident in self._keys(username, client):
            if not self.limiter.test(self.lock, "login-lock", kind, ident):
                reset_at, _ = self.limiter.get_window_stats(self.lock, "login-lock", kind, ident)
                raise LoginThrottled(max(1, int(reset_at - time.time())))

    def record_failure(self, username: str, client: str | None = None) -> None:
        """Count one failure; the one that fills the window starts the lockout."""
        for item, kind, ident in self._keys(username, client):
            # hit() is atomic, so parallel attempts cannot all slip under the limit.
            if not self.limiter.hit(item, "login-fail", kind, ident) or not self.limiter.test(
                item, "login-fail", kind, ident
            ):
                self.limiter.hit(self.lock, "login-lock", kind, ident)

    def reset(self, username: str) -> None:
        """Forget a username's failures after a successful login."""
        self.limiter.clear(self.failures, "login-fail", "user", username.lower())
