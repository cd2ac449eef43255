"""Anthropic Messages adapter: messages.stream, usage from the final message."""

from __future__ import annotations

import logging
from collections.abc import Generator
from functools import lru_cache
from typing import Any, ClassVar

import anthropic
import httpx2 as httpx

from core.errors import (
    InvalidProviderKey,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from core.logging import log_event
from core.providers.base import ChatRequest, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage
from core.providers.openai import retry_after_seconds

logger = logging.getLogger(__name__)

LABEL = "Anthropic"


@lru_cache(maxsize=64)
def _anthropic_client(api_key: str, base_url: str | None, timeout: float, connect: float,
                      retries: int) -> anthropic.Anthropic:
    # One client per configuration: its connection pool is reused across requests.
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=retries,
                               timeout=httpx.Timeout(timeout, connect=connect))


def map_anthropic_error(exc: Exception) -> ProviderError:
    """Our error for an anthropic SDK (or httpx) error; never echoes the key."""
    # The upstream text helps operators; the JSON log formatter masks any key it may quote.
    log_event(logger, "provider error", logging.WARNING, provider=LABEL, error=type(exc).__name__,
              upstream=str(exc)[:500])
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return InvalidProviderKey(f"{LABEL} refused the API key. Check the key in Settings.")
    if isinstance(exc, anthropic.RateLimitError):
        return ProviderRateLimited(retry_after_seconds(exc.response.headers))
    if isinstance(exc, anthropic.APITimeoutError | httpx.TimeoutException):
        return ProviderTimeout(f"{LABEL} did not answer in time.")
    if isinstance(exc, anthropic.APIConnectionError | httpx.HTTPError):
        return ProviderUnavailable(f"{LABEL} could not be reached or the connection was lost.")
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code >= 500:  # includes 529 overloaded
            return ProviderUnavailable(f"{LABEL} is unavailable right now (HTTP {exc.status_code}).")
        return ProviderError(f"{LABEL} refused the request (HTTP {exc.status_code}).")
    return ProviderError(f"{LABEL} returned an unexpected error.")



class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = LABEL
    supports_temperature: ClassVar[bool] = False  # the Messages API no longer takes sampling params

    def _client(self, api_key: str | None = None) -> anthropic.Anthropic:
        catalog = self.catalog
        return _anthropic_client(api_key or self.credentials.api_key or "unused",
                                 self.credentials.base_url or catalog.base_url or None,
                                 catalog.timeout_seconds, catalog.connect_timeout_seconds, catalog.max_retries)

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        kwargs: dict[str, Any] = {"system": request.system} if request.system else {}
        messages: Any = [{"role": m.role, "content": m.content} for m in request.messages]
        try:
            with self._client().messages.stream(
                model=request.model, max_tokens=request.max_tokens, messages=messages, **kwargs
            ) as stream:
                for text in stream.text_stream:
                    if text:
                        yield TextDelta(text)
                final = stream.get_final_message()
        except (anthropic.AnthropicError, httpx.HTTPError) as exc:
            raise map_anthropic_error(exc) from None
        usage = Usage(final.usage.input_tokens, final.usage.output_tokens)
        yield Finished(usage=usage, model=final.model or request.model, stop_reason=final.stop_reason)

    def validate_key(self, api_key: str) -> KeyCheck:
        try:
            self._client(api_key).with_options(max_retries=0).models.list(limit=1)
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError):
            return KeyCheck("invalid", f"{LABEL} refused the key.")
        except (anthropic.APIConnectionError, httpx.HTTPError):
            return KeyCheck("unreachable", f"{LABEL} could not be reached.")
        except anthropic.APIStatusError as exc:
            return KeyCheck("unreachable", f"{LABEL} answered HTTP {exc.status_code}.")
        return KeyCheck("valid", "The key works.")
