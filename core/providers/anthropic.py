"""Anthropic Messages adapter: messages.stream, usage from the final message."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import anthropic
import httpx2 as httpx

from core.providers.base import ChatRequest, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage
from core.providers.clients import sdk_client
from core.providers.sdk_errors import check_key, map_sdk_error

LABEL = "Anthropic"


class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = LABEL
    supports_temperature: ClassVar[bool] = False  # the Messages API no longer takes sampling params

    def _client(self, api_key: str | None = None) -> anthropic.Anthropic:
        return sdk_client(anthropic.Anthropic, self, api_key)

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        kwargs: dict[str, Any] = {"system": request.system} if request.system else {}
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
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
            raise map_sdk_error(exc, anthropic, LABEL, self.credentials.api_key) from None
        # Anthropic counts cache reads and writes apart from input_tokens: all of them were input.
        cached = final.usage.cache_read_input_tokens or 0
        written = final.usage.cache_creation_input_tokens or 0
        usage = Usage(final.usage.input_tokens + cached + written, final.usage.output_tokens, cached_in=cached)
        yield Finished(usage=usage, model=final.model or request.model, stop_reason=final.stop_reason)

    def validate_key(self, api_key: str) -> KeyCheck:
        client = self._client(api_key).with_options(max_retries=0)
        return check_key(lambda: client.models.list(limit=1), anthropic, LABEL)
