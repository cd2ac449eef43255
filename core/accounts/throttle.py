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
        self.sign_ups = parse(f"{login.registrations_per_hour} per 1 hour")

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

    def attempt(self, username: str, client: str | None = None) -> None:
        """Count one attempt for the username *before* its password is checked, or raise LoginThrottled.

        hit() is atomic (a Lua script on Redis): of any number of parallel guesses, at most max_failures get
        their password checked in a window; a successful login gives the slots back (reset()).
        """
        self.check(username, client)
        if not self.limiter.hit(self.failures, "login-fail", "user", username.lower()):
            self._lock("user", username.lower())
            self.check(username, client)

    def record_failure(self, username: str | None, client: str | None = None) -> None:
        """A wrong password: the client address counts it; the attempt that fills a window starts a lockout."""
        if username and not self.limiter.test(self.failures, "login-fail", "user", username.lower()):
            self._lock("user", username.lower())
        if client and (not self.limiter.hit(self.client_failures, "login-fail", "client", client)
                       or not self.limiter.test(self.client_failures, "login-fail", "client", client)):
            self._lock("client", client)

    def registration(self, client: str | None) -> None:
        """Count one sign-up from this client address, or raise LoginThrottled when it made too many."""
        if client and not self.limiter.hit(self.sign_ups, "sign-up", client):
            reset_at, _ = self.limiter.get_window_stats(self.sign_ups, "sign-up", client)
            raise LoginThrottled(max(1, int(reset_at - time.time())))

    def _lock(self, kind: str, ident: str) -> None:
        self.limiter.hit(self.lock, "login-lock", kind, ident)

    def reset(self, username: str) -> None:
        """Forget a username's attempts after a successful login."""
        self.limiter.clear(self.failures, "login-fail", "user", username.lower())
