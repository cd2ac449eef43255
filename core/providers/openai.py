"""OpenAI Chat Completions adapter (streaming with usage); the compatible adapter reuses it."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

import httpx2 as httpx
import openai

from core.providers.base import ChatRequest, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage
from core.providers.clients import sdk_client
from core.providers.sdk_errors import check_key, map_sdk_error


class OpenAIProvider(Provider):
    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"
    max_tokens_param: ClassVar[str] = "max_completion_tokens"

    def _client(self, api_key: str | None = None) -> openai.OpenAI:
        return sdk_client(openai.OpenAI, self, api_key)

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
                **({"stop": list(request.stop)} if request.stop else {}),
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
            raise map_sdk_error(exc, openai, self.label) from None
        if usage is None:  # servers that ignore include_usage: count conservatively
            prompt = "".join(m.content for m in request.messages) + request.system
            usage = Usage(self.count_tokens(prompt), max(1, out_chars // 3), estimated=True)
        yield Finished(usage=usage, model=model, stop_reason=stop)

    def validate_key(self, api_key: str) -> KeyCheck:
        client = self._client(api_key).with_options(max_retries=0)
        return check_key(client.models.list, openai, self.label)
