"""OpenAI Chat Completions adapter (streaming with usage); the compatible adapter reuses it."""

from __future__ import annotations

import logging
from collections.abc import Generator
from functools import lru_cache
from typing import Any, ClassVar

import httpx2 as httpx
import openai

from core.errors import (
    InvalidProviderKey,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from core.logging import log_event
from core.providers.base import ChatRequest, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _openai_client(api_key: str, base_url: str | None, timeout: float, connect: float, retries: int) -> openai.OpenAI:
    # One client per configuration: its connection pool is reused across requests.
    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=retries,
                         timeout=httpx.Timeout(timeout, connect=connect))


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


def map_openai_error(exc: Exception, label: str) -> ProviderError:
    """Our error for an openai SDK (or httpx) error; the message never includes the key."""
    # The upstream text helps operators; the JSON log formatter masks any key it may quote.
    log_event(logger, "provider error", logging.WARNING, provider=label, error=type(exc).__name__,
              upstream=str(exc)[:500])
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return InvalidProviderKey(f"{label} refused the API key. Check the key in Settings.")
    if isinstance(exc, openai.RateLimitError):
        return ProviderRateLimited(retry_after_seconds(exc.response.headers))
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return ProviderTimeout(f"{label} did not answer in time.")
    if isinstance(exc, openai.APIConnectionError | httpx.HTTPError):
        return ProviderUnavailable(f"{label} could not be reached or the connection was lost.")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return ProviderUnavailable(f"{label} is unavailable right now (HTTP {exc.status_code}).")
        if exc.status_code == 404:
            return ProviderError(f"{label} does not know that model.")
        return ProviderError(f"{label} refused the request (HTTP {exc.status_code}).")
    return ProviderError(f"{label} returned an unexpected error.")



class OpenAIProvider(Provider):
    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"
    max_tokens_param: ClassVar[str] = "max_completion_tokens"

    def _client(self, api_key: str | None = None) -> openai.OpenAI:
        catalog = self.catalog
        return _openai_client(api_key or self.credentials.api_key or "unused",
                              self.credentials.base_url or catalog.base_url or None,
                              catalog.timeout_seconds, catalog.connect_timeout_seconds, catalog.max_retries)

    def _messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        return messages

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        try:
            create: Any = self._client().chat.completions.create  # the SDK's overloads want literals
            response = create(
                model=request.model,
                messages=self._messages(request),
                temperature=request.temperature,
                stream=True,
                stream_options={"include_usage": True},
                **{self.max_tokens_param: request.max_tokens},
            )
            usage, model, stop = None, request.model, None
            out_chars = 0
            with response:
                for chunk in response:
                    model = chunk.model or model
                    if chunk.usage:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        stop = choice.finish_reason or stop
                        if choice.delta and choice.delta.content:
                            out_chars += len(choice.delta.content)
                            yield TextDelta(choice.delta.content)
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise map_openai_error(exc, self.label) from None
        if usage is None:  # servers that ignore include_usage: count conservatively
            prompt = "".join(m.content for m in request.messages) + request.system
            usage = Usage(self.count_tokens(prompt), max(1, out_chars // 3), estimated=True)
        yield Finished(usage=usage, model=model, stop_reason=stop)

    def validate_key(self, api_key: str) -> KeyCheck:
        try:
            self._client(api_key).with_options(max_retries=0).models.list()
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            return KeyCheck("invalid", f"{self.label} refused the key.")
        except (openai.APIConnectionError, httpx.HTTPError):
            return KeyCheck("unreachable", f"{self.label} could not be reached.")
        except openai.APIStatusError as exc:
            return KeyCheck("unreachable", f"{self.label} answered HTTP {exc.status_code}.")
        return KeyCheck("valid", "The key works.")
