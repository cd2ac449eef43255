"""OpenAI Chat Completions adapter (streaming with usage); the compatible adapter reuses it."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx2 as httpx
import openai

from core.errors import ProviderUnavailable
from core.i18n import Msg
from core.providers import wire
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
    Usage,
    image_tokens,
    sent_texts,
)
from core.providers.clients import sdk_client
from core.providers.images import Image, data_url, openai_tokens, scaled
from core.providers.sdk_errors import check_key, map_sdk_error

DEFAULT_BASE_URL = "https://api.openai.com/v1"  # the SDK's, when neither the key nor the catalog names a server


class OpenAIProvider(Provider):
    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"
    max_tokens_param: ClassVar[str] = "max_completion_tokens"
    capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "json_mode", "vision"})

    def _client(self, api_key: str | None = None) -> openai.OpenAI:
        return sdk_client(openai.OpenAI, self, api_key)

    def image_tokens(self, model: str, image: Image) -> int:
        return openai_tokens(model, *self.image_size(image), image.detail)

    def _messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend(self._message(m) for m in request.messages)
        return messages

    def _message(self, message: ChatMessage) -> dict[str, Any]:
        """One message on the wire; a user's images as image_url parts (data URLs, scaled to this provider's size)."""
        if not message.images:
            return _message(message)
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        for image in message.images:  # at the size Provider.image_size gives (OpenAI's documented scaling)
            detail = {"detail": image.detail} if image.detail != "auto" else {}
            url = data_url(scaled(image, self.image_size(image)))
            parts.append({"type": "image_url", "image_url": {"url": url, **detail}})
        return {"role": message.role, "content": parts}

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        arguments = {"model": request.model, "messages": self._messages(request), "temperature": request.temperature,
                     self.max_tokens_param: request.max_tokens}
        if request.stop:
            arguments["stop"] = list(request.stop)
        tooling = request.tooling
        if tooling is not None:  # as the client sent them (validated in core.api.schemas)
            optional = {"tools": list(tooling.tools) or None, "tool_choice": tooling.choice,
                        "parallel_tool_calls": tooling.parallel if tooling.tools else None,
                        "response_format": tooling.response_format}
            arguments.update({k: v for k, v in optional.items() if v is not None})
        return arguments

    has_async: ClassVar[bool] = True

    def generate(self, request: ChatRequest) -> ChatResult:
        # A plain request, read as plain JSON (the SDK's pydantic objects would cost more than the whole call).
        try:
            create: Any = self._client().chat.completions.with_raw_response.create
            text = create(**self._arguments(request), stream=False).text
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise map_sdk_error(exc, openai, self.label, self.credentials.api_key) from None
        try:
            answer = json.loads(text)
        except ValueError:  # a 200 that is not JSON
            raise ProviderUnavailable(Msg("providers.unfinished", provider=self.label)) from None
        return self._plain_result(answer, request)

    async def agenerate(self, request: ChatRequest) -> ChatResult:
        # Without the SDK (core.providers.wire): the same request, errors mapped as the SDK's, far less CPU.
        base = (self.credentials.base_url or self.catalog.base_url or os.environ.get("OPENAI_BASE_URL")
                or DEFAULT_BASE_URL).rstrip("/")
        body = json.dumps({**self._arguments(request), "stream": False}).encode()
        answer = await wire.post_json(f"{base}/chat/completions", api_key=self.credentials.api_key, body=body,
                                      timeout=self.catalog.timeout_seconds,
                                      connect_timeout=self.catalog.connect_timeout_seconds,
                                      retries=self.catalog.max_retries, label=self.label)
        return self._plain_result(answer, request)

    def _plain_result(self, body: Any, request: ChatRequest) -> ChatResult:
        if not isinstance(body, dict) or body.get("error") or not isinstance(body.get("choices"), list):
            raise ProviderUnavailable(Msg("providers.unfinished", provider=self.label))
        choice = body["choices"][0] if body["choices"] and isinstance(body["choices"][0], dict) else {}
        message = choice.get("message") or {}
        reply = str(message.get("content") or "")
        calls = _Calls()
        calls.read(message.get("tool_calls"))
        usage = _usage(body.get("usage"))
        if usage is None:  # servers that report nothing: count conservatively, as for a stream
            prompt = "".join(sent_texts(request))
            out = min(max(1, (len(reply) + calls.chars) // 3), request.max_tokens)
            usage = Usage(self.count_tokens(prompt) + image_tokens(request, self), out, estimated=True)
        return ChatResult(reply, usage, body.get("model") or request.model, choice.get("finish_reason"),
                          calls.done(self.label))

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        # The SDK sends the request (auth, timeouts, retries, its error types); the stream's chunks are read as
        # plain JSON: building the SDK's pydantic objects for every chunk cost ~3 ms of CPU per 10-chunk reply.
        try:
            create: Any = self._client().chat.completions.with_streaming_response.create
            with create(**self._arguments(request), stream=True, stream_options={"include_usage": True}) as response:
                state = _StreamState(request.model)
                for chunk in _sse_json(response.iter_lines(), self.label):
                    for text in state.read(chunk):
                        yield TextDelta(text)
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise map_sdk_error(exc, openai, self.label, self.credentials.api_key) from None
        usage = state.usage
        if usage is None:  # servers that ignore include_usage: count conservatively
            prompt = "".join(sent_texts(request))
            # never above what the call could produce
            out = min(max(1, (state.out_chars + state.calls.chars) // 3), request.max_tokens)
            usage = Usage(self.count_tokens(prompt) + image_tokens(request, self), out, estimated=True)
        yield Finished(usage=usage, model=state.model, stop_reason=state.stop, tool_calls=state.calls.done(self.label))

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """Embeddings for texts from the /embeddings endpoint (OpenAI's, or an OpenAI-compatible server's)."""
        try:
            result = self._client().embeddings.create(model=model, input=texts)
            vectors = [list(item.embedding) for item in sorted(result.data, key=lambda d: d.index)]
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            raise map_sdk_error(exc, openai, self.label, self.credentials.api_key) from None
        except (ValueError, TypeError, AttributeError):  # a 200 that is not the API's JSON
            raise ProviderUnavailable(Msg("providers.unfinished", provider=self.label)) from None
        if len(vectors) != len(texts):
            raise ProviderUnavailable(Msg("providers.unfinished", provider=self.label))
        return vectors

    def validate_key(self, api_key: str) -> KeyCheck:
        client = self._client(api_key).with_options(max_retries=0)
        return check_key(client.models.list, openai, self.label)


@dataclass
class _StreamState:
    """What a chat-completions stream has said so far: its model, usage, finish reason and text length."""

    model: str
    usage: Usage | None = None
    stop: str | None = None
    out_chars: int = 0
    calls: _Calls = field(default_factory=lambda: _Calls())

    def read(self, chunk: dict[str, Any]) -> Iterator[str]:
        self.model = chunk.get("model") or self.model
        self.usage = _usage(chunk.get("usage")) or self.usage
        for choice in chunk.get("choices") or ():
            self.stop = choice.get("finish_reason") or self.stop
            delta = choice.get("delta") or {}
            self.calls.read(delta.get("tool_calls"))
            text = delta.get("content")
            if text:
                self.out_chars += len(text)
                yield text


class _Calls:
    """Tool calls as a reply states them: whole (a plain reply) or in pieces by index (a stream's deltas)."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, str]] = {}

    def read(self, calls: Any) -> None:
        for position, call in enumerate(calls if isinstance(calls, list) else ()):
            if not isinstance(call, dict):
                continue
            index = call.get("index", position)
            part = self._parts.setdefault(index if isinstance(index, int) else position,
                                          {"id": "", "name": "", "arguments": ""})
            function = call.get("function") or {}
            part["id"] = call.get("id") or part["id"]
            part["name"] += function.get("name") or ""
            part["arguments"] += function.get("arguments") or ""

    @property
    def chars(self) -> int:
        return sum(len(p["name"]) + len(p["arguments"]) for p in self._parts.values())

    def done(self, label: str) -> tuple[ToolCall, ...]:
        """The calls in order; a call without an id or a name is not one (the reply is unfinished)."""
        calls = tuple(ToolCall(p["id"], p["name"], p["arguments"] or "{}") for _, p in sorted(self._parts.items()))
        if any(not c.id or not c.name for c in calls):
            raise ProviderUnavailable(Msg("providers.unfinished", provider=label))
        return calls


def _message(message: ChatMessage) -> dict[str, Any]:
    """One message on the wire: an assistant's tool calls and a tool's result in OpenAI's shape."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {"role": "assistant", "content": message.content or None,
                "tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                               for c in message.tool_calls]}
    return {"role": message.role, "content": message.content}


def _usage(usage: Any) -> Usage | None:
    """OpenAI's usage object (a stream's last chunk, or a plain reply's body) as ours; None when absent."""
    if not usage or not isinstance(usage, dict):
        return None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                 cached_in=int(cached))


def _sse_json(lines: Iterator[str], label: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of an SSE stream's data lines, up to [DONE]; an error event ends it as our error."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # event names, comments, keep-alives
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ProviderUnavailable(Msg("providers.unfinished", provider=label)) from None
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise ProviderUnavailable(Msg("providers.unfinished", provider=label))
        yield chunk
