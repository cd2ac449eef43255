"""SDK errors -> ours. The openai and anthropic SDKs share one error tree (same class names), so one
mapping serves both; SDK types never leave an adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType

import httpx2 as httpx

from core.errors import InvalidProviderKey, ProviderError, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from core.logging import log_event
from core.providers.base import KeyCheck

logger = logging.getLogger(__name__)


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """Seconds from a Retry-After / retry-after-ms header, when the provider sent one."""
    if not headers:
        return None
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def map_sdk_error(exc: Exception, sdk: ModuleType, label: str) -> ProviderError:
    """Our error for an SDK (or transport) error of `sdk`; the message shown never includes the key."""
    # The upstream text helps operators; the JSON log formatter masks any key it may quote.
    log_event(logger, "provider error", logging.WARNING, provider=label, error=type(exc).__name__,
              upstream=str(exc)[:500])
    if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError):
        return InvalidProviderKey(f"{label} refused the API key. Check the key in Settings.")
    if isinstance(exc, sdk.RateLimitError):
        return ProviderRateLimited(retry_after_seconds(exc.response.headers))
    if isinstance(exc, sdk.APITimeoutError | httpx.TimeoutException):
        return ProviderTimeout(f"{label} did not answer in time.")
    if isinstance(exc, sdk.APIConnectionError | httpx.HTTPError):
        return ProviderUnavailable(f"{label} could not be reached or the connection was lost.")
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code >= 500:  # includes Anthropic's 529 "overloaded"
            return ProviderUnavailable(f"{label} is unavailable right now (HTTP {exc.status_code}).")
        if exc.status_code == 404:
            return ProviderError(f"{label} does not know that model.")
        return ProviderError(f"{label} refused the request (HTTP {exc.status_code}).")
    return ProviderError(f"{label} returned an unexpected error.")


def check_key(call: Callable[[], object], sdk: ModuleType, label: str) -> KeyCheck:
    """Run a cheap authenticated call with the key: valid, invalid or unreachable."""
    try:
        call()
    except (sdk.AuthenticationError, sdk.PermissionDeniedError):
        return KeyCheck("invalid", f"{label} refused the key.")
    except (sdk.APIConnectionError, httpx.HTTPError):
        return KeyCheck("unreachable", f"{label} could not be reached.")
    except sdk.APIStatusError as exc:
        return KeyCheck("unreachable", f"{label} answered HTTP {exc.status_code}.")
    return KeyCheck("valid", "The key works.")
