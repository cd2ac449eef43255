"""Anthropic Messages adapter: messages.stream (messages.create for a plain reply), usage from the final message."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import anthropic
import httpx2 as httpx

from core.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Finished,
    KeyCheck,
    Provider,
    StreamEvent,
    TextDelta,
    ToolCall,
    Tooling,
    Usage,
)
from core.providers.clients import async_sdk_client, sdk_client
from core.providers.images import Image, anthropic_size, anthropic_tokens, scaled
from core.providers.sdk_errors import check_key, map_sdk_error

LABEL = "Anthropic"


class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = LABEL
    supports_temperature: ClassVar[bool] = False  # the Messages API no longer takes sampling params
    # OpenAI's JSON formats have no equivalent here
    capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "vision"})

    def _client(self, api_key: str | None = None) -> anthropic.Anthropic:
        return sdk_client(anthropic.Anthropic, self, api_key)

    def image_size(self, image: Image) -> tuple[int, int]:
        return anthropic_size(image.width, image.height)

    def image_tokens(self, model: str, image: Image) -> int:
        return anthropic_tokens(*self.image_size(image))

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"system": request.system} if request.system else {}
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if request.tooling is not None:
            kwargs.update(_tools(request.tooling))
        messages: Any = _messages(request.messages, self._image)
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
        yield Finished(usage=_usage(final), model=final.model or request.model, stop_reason=final.stop_reason,
                       tool_calls=_calls(final))

    def validate_key(self, api_key: str) -> KeyCheck:
        client = self._client(api_key).with_options(max_retries=0)
        return check_key(lambda: client.models.list(limit=1), anthropic, LABEL)

    def _image(self, image: Image) -> dict[str, Any]:
        """An image block (base64, scaled to Anthropic's documented maximum)."""
        sent = scaled(image, self.image_size(image))
        return {"type": "image", "source": {"type": "base64", "media_type": sent.media_type,
                                            "data": base64.b64encode(sent.data).decode()}}


def _result(final: Any, request: ChatRequest) -> ChatResult:
    text = "".join(block.text for block in final.content if getattr(block, "type", "") == "text")
    return ChatResult(text, _usage(final), final.model or request.model, final.stop_reason, _calls(final))


def _calls(final: Any) -> tuple[ToolCall, ...]:
    """The reply's tool_use blocks as OpenAI's tool calls (arguments: the input as JSON text)."""
    return tuple(ToolCall(block.id, block.name, json.dumps(block.input, ensure_ascii=False))
                 for block in final.content if getattr(block, "type", "") == "tool_use")


def _messages(messages: list[ChatMessage], image: Callable[[Image], dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI's conversation in Anthropic's shape: an assistant's calls become tool_use blocks; tool results are
    tool_result blocks of the user turn that follows them (merged with the user's own text when it comes next);
    a user's images are image blocks before the text (as Anthropic advises)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            blocks: list[dict[str, Any]] = [{"type": "tool_result", "tool_use_id": m.tool_call_id,
                                            "content": m.content}]
        elif m.tool_calls:
            text = [{"type": "text", "text": m.content}] if m.content.strip() else []
            out.append({"role": "assistant", "content": text + [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)} for c in m.tool_calls]})
            continue
        elif m.images or (m.role == "user" and out and isinstance(out[-1]["content"], list)
                          and out[-1]["role"] == "user"):
            blocks = [*map(image, m.images), *([{"type": "text", "text": m.content}] if m.content else [])]
        else:
            out.append({"role": m.role, "content": m.content})
            continue
        if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": "user", "content": blocks})
    return out


def _input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic wants (a model's malformed JSON is sent as it was written)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


_CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def _tools(tooling: Tooling) -> dict[str, Any]:
    """OpenAI's function tools and tool_choice in Anthropic's shape."""
    if not tooling.tools:
        return {}
    tools = [{"name": f["name"], "description": f.get("description") or "",
              "input_schema": f.get("parameters") or {"type": "object", "properties": {}}}
             for f in (t["function"] for t in tooling.tools)]
    choice = tooling.choice
    picked: dict[str, Any] = dict(_CHOICES[choice]) if isinstance(choice, str) else \
        {"type": "tool", "name": choice["function"]["name"]} if isinstance(choice, dict) else {"type": "auto"}
    if tooling.parallel is False and picked["type"] != "none":
        picked["disable_parallel_tool_use"] = True
    return {"tools": tools, "tool_choice": picked}


def _usage(final: Any) -> Usage:
    # Anthropic counts cache reads and writes apart from input_tokens: all of them were input.
    cached = final.usage.cache_read_input_tokens or 0
    written = final.usage.cache_creation_input_tokens or 0
    return Usage(final.usage.input_tokens + cached + written, final.usage.output_tokens, cached_in=cached)
