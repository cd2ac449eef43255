"""Anthropic Messages adapter: messages.stream (messages.create for a plain reply), usage from the final message."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import anthropic
import httpx2 as httpx

from core.providers.base import ChatRequest, ChatResult, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage
from core.providers.clients import async_sdk_client, sdk_client
from core.providers.sdk_errors import check_key, map_sdk_error

LABEL = "Anthropic"


class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = LABEL
    supports_temperature: ClassVar[bool] = False  # the Messages API no longer takes sampling params

    def _client(self, api_key: str | None = None) -> anthropic.Anthropic:
        return sdk_client(anthropic.Anthropic, self, api_key)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"system": request.system} if request.system else {}
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        messages: Any = [{"role": m.role, "content": m.content} for m in request.messages]
        return {"model": request.model, "max_tokens": request.max_tokens, "messages": messages, **kwargs}

    has_async: ClassVar[bool] = True

    def generate(self, request: ChatRequest) -> ChatResult:
        try:
            final = self._client().messages.create(**self._arguments(request))
        except (anthropic.AnthropicError, httpx.HTTPError) as exc:
            raise map_sdk_error(exc, anthropic, LABEL, self.credentials.api_key) from None
        return _result(final, request)

    async def agenerate(self, request: ChatRequest) -> ChatResult:
        try:
            final = await async_sdk_client(anthropic.AsyncAnthropic, self).messages.create(**self._arguments(request))
        except (anthropic.AnthropicError, httpx.HTTPError) as exc:
            raise map_sdk_error(exc, anthropic, LABEL, self.credentials.api_key) from None
        return _result(final, request)

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        try:
            with self._client().messages.stream(**self._arguments(request)) as stream:
                for text in stream.text_stream:
                    if text:
                        yield TextDelta(text)
                final = stream.get_final_message()
        except (anthropic.AnthropicError, httpx.HTTPError) as exc:
            raise map_sdk_error(exc, anthropic, LABEL, self.credentials.api_key) from None
        yield Finished(usage=_usage(final), model=final.model or request.model, stop_reason=final.stop_reason)

    def validate_key(self, api_key: str) -> KeyCheck:
        client = self._client(api_key).with_options(max_retries=0)
        return check_key(lambda: client.models.list(limit=1), anthropic, LABEL)


def _result(final: Any, request: ChatRequest) -> ChatResult:
    text = "".join(block.text for block in final.content if getattr(block, "type", "") == "text")
    return ChatResult(text, _usage(final), final.model or request.model, final.stop_reason)


def _usage(final: Any) -> Usage:
    # Anthropic counts cache reads and writes apart from input_tokens: all of them were input.
    cached = final.usage.cache_read_input_tokens or 0
    written = final.usage.cache_creation_input_tokens or 0
    return Usage(final.usage.input_tokens + cached + written, final.usage.output_tokens, cached_in=cached)
