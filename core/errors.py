"""Error tree. Every AppError carries a user_message that is safe to show in the UI.

user_message is a core.i18n.Msg where the text comes from the catalog: English as a str, and the UI
shows it in the reader's language."""

from __future__ import annotations

from datetime import datetime

from core.i18n import Msg


class AppError(Exception):
    """Base of every error a user may see; user_message never contains a secret."""

    user_message: str = Msg("errors.generic")

    def __init__(self, user_message: str | None = None) -> None:
        if user_message is not None:
            self.user_message = user_message
        super().__init__(str(self.user_message))


class ConfigError(AppError):
    """Seen by the operator at start-up: the configuration or a secret is missing or invalid."""


class ValidationError(AppError):
    """Seen by the user: their input broke a rule; nothing was stored."""


class ConflictError(ValidationError):
    """Seen by the user: a unique value (username, email) is already taken."""


class AuthError(AppError):
    """Seen by the user at login: credentials wrong, account not active, or session revoked."""


class LoginThrottled(AuthError):
    """Seen by the user at login: too many failed attempts for this username or client."""

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(Msg("auth.throttled", minutes=max(1, round(retry_after_seconds / 60))))


class PermissionDenied(AppError):
    """Seen by the user: their role may not do this."""

    user_message = Msg("errors.permission")


class NotFound(AppError):
    """Seen by the user: the thing they asked for does not exist (or is not theirs)."""

    user_message = Msg("errors.not_found")


class ProviderError(AppError):
    """Seen by the user in the chat: the model provider failed. kind is recorded in usage."""

    kind = "provider_error"
    user_message = Msg("errors.provider")
    # Whether the next provider in the fallback chain should be tried.
    fallback = False


class InvalidProviderKey(ProviderError):
    """Seen by the user (and the key's owner): the provider refused the API key."""

    kind = "invalid_key"
    user_message = Msg("errors.invalid_key")


class ProviderRateLimited(ProviderError):
    """Seen by the user: the provider is rate limiting us; retry_after in seconds when known."""

    kind = "rate_limited"
    fallback = True

    def __init__(self, retry_after: float | None = None, user_message: str | None = None) -> None:
        self.retry_after = retry_after
        default = Msg("errors.provider_rate_limited_wait", seconds=int(retry_after)) if retry_after \
            else Msg("errors.provider_rate_limited")
        super().__init__(user_message or default)


class ProviderUnavailable(ProviderError):
    """Seen by the user: the provider could not be reached or failed (5xx, overloaded, dropped)."""

    kind = "unavailable"
    user_message = Msg("errors.provider_unavailable")
    fallback = True


class ProviderTimeout(ProviderError):
    """Seen by the user: the provider did not answer in time."""

    kind = "timeout"
    user_message = Msg("errors.provider_timeout")
    fallback = True


class ServiceDraining(AppError):
    """Seen by the user: this instance is stopping (SIGTERM) and takes no new turns; another one will."""

    user_message = Msg("chat.draining")
    retry_after_seconds = 5


class RateLimited(AppError):
    """Seen by the user before any provider call: one of their limits is reached; says when to retry."""

    def __init__(self, retry_at: datetime, now: datetime, reason: str) -> None:
        self.retry_at = retry_at
        self.retry_after_seconds = max(1, int((retry_at - now).total_seconds()))
        when = f"{retry_at:%H:%M:%S}" if retry_at.date() == now.date() else f"{retry_at:%Y-%m-%d %H:%M}"
        super().__init__(Msg("limits.refused", reason=reason, when=when, wait=_duration(self.retry_after_seconds)))


def _duration(seconds: int) -> Msg:
    if seconds < 60:
        return Msg("time.seconds", s=seconds)
    if seconds < 3600:
        return Msg("time.minutes_seconds", m=seconds // 60, s=seconds % 60)
    if seconds < 86400:
        return Msg("time.hours_minutes", h=seconds // 3600, m=seconds % 3600 // 60)
    return Msg("time.days", d=seconds // 86400)
