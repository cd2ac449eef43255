"""Error tree. Every AppError carries a user_message that is safe to show in the UI."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error a user may see; user_message never contains a secret."""

    user_message = "Something went wrong."

    def __init__(self, user_message: str | None = None) -> None:
        if user_message is not None:
            self.user_message = user_message
        super().__init__(self.user_message)


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
        minutes = max(1, round(retry_after_seconds / 60))
        super().__init__(
            f"Too many failed attempts. Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        )


class PermissionDenied(AppError):
    """Seen by the user: their role may not do this."""

    user_message = "You do not have permission to do that."


class NotFound(AppError):
    """Seen by the user: the thing they asked for does not exist (or is not theirs)."""

    user_message = "Not found."
