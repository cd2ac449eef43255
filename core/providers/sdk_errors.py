"""SDK errors -> ours. The openai and anthropic SDKs share one error tree (same class names), so one
mapping serves both; SDK types never leave an adapter."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import ModuleType

import httpx2 as httpx

from core.errors import InvalidProviderKey, ProviderError, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from core.i18n import Msg
from core.logging import log_event
from core.providers.base import KeyCheck

logger = logging.getLogger(__name__)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
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


def upstream_text(exc: Exception, sdk: ModuleType, secret: str | None) -> str:
    """What the provider said, for the operators' log: never a refused key's body (it may echo the key), and the
    credential itself removed whatever its shape (the log's own masks only know common key prefixes)."""
    if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError):
        return f"status {exc.status_code}"
    return _masked(str(exc)[:2000], secret)


def _masked(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 8:
        text = text.replace(secret, "***")
        for piece in (secret[:16], secret[-16:]):  # a provider may quote part of it
            text = text.replace(piece, "***")
    return text[:500]


def map_sdk_error(exc: Exception, sdk: ModuleType, label: str, secret: str | None = None) -> ProviderError:
    """Our error for an SDK (or transport) error of `sdk`; the message shown never includes the key."""
    log_event(logger, "provider error", logging.WARNING, provider=label, error=type(exc).__name__,
              upstream=upstream_text(exc, sdk, secret))
    if isinstance(exc, sdk.APITimeoutError | httpx.TimeoutException):
        return ProviderTimeout(Msg("providers.timeout", provider=label))
    if isinstance(exc, sdk.APIConnectionError | httpx.HTTPError):
        return ProviderUnavailable(Msg("providers.unreachable", provider=label))
    if isinstance(exc, sdk.APIStatusError):
        return _by_status(exc.status_code, exc.response.headers, label)
    return ProviderError(Msg("providers.unexpected", provider=label))


def _by_status(status: int, headers: Mapping[str, str] | None, label: str) -> ProviderError:
    if status in (401, 403):
        return InvalidProviderKey(Msg("providers.key_refused", provider=label))
    if status == 429:
        return ProviderRateLimited(retry_after_seconds(headers))
    if 300 <= status < 400:  # not followed: it could point into the portal's own network
        return ProviderError(Msg("providers.redirected", provider=label, status=status))
    if status >= 500:  # includes Anthropic's 529 "overloaded"
        return ProviderUnavailable(Msg("providers.unavailable_status", provider=label, status=status))
    if status == 404:
        return ProviderError(Msg("providers.unknown_model", provider=label))
    return ProviderError(Msg("providers.refused_status", provider=label, status=status))


def from_status(status: int, headers: Mapping[str, str] | None, label: str, *, upstream: str,
                secret: str | None) -> ProviderError:
    """Our error for an HTTP answer of `status` read without an SDK (core.providers.wire), as map_sdk_error maps
    the SDK's error for the same answer; upstream (the body) is logged with the key removed."""
    log_failure(label, f"status {status}", _masked(upstream, secret) if upstream else f"status {status}")
    return _by_status(status, headers, label)


def log_failure(label: str, error: str, upstream: str) -> None:
    log_event(logger, "provider error", logging.WARNING, provider=label, error=error, upstream=upstream)


def check_key(call: Callable[[], object], sdk: ModuleType, label: str) -> KeyCheck:
    """Run a cheap authenticated call with the key: valid, invalid or unreachable (with the reason); whatever the
    server answers, the check is stored, never a crash."""
    try:
        call()
    except (sdk.AuthenticationError, sdk.PermissionDeniedError):
        return KeyCheck("invalid", Msg("providers.check_refused", provider=label))
    except (sdk.APIConnectionError, httpx.HTTPError):
        return KeyCheck("unreachable", Msg("providers.check_unreachable", provider=label))
    except sdk.APIStatusError as exc:
        if 300 <= exc.status_code < 400:
            return KeyCheck("unreachable", Msg("providers.redirected", provider=label, status=exc.status_code))
        return KeyCheck("unreachable", Msg("providers.check_status", provider=label, status=exc.status_code))
    except (sdk.APIError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # A 200 that is not the API's JSON (an HTML page, a proxy's banner): the SDK cannot read it.
        log_event(logger, "key check: unreadable answer", logging.WARNING, provider=label, error=type(exc).__name__)
        return KeyCheck("unreachable", Msg("providers.check_not_api", provider=label, detail=type(exc).__name__))
    return KeyCheck("valid", Msg("providers.check_valid"))
