"""The provider interface: one streaming generator per adapter; SDK types never leave an adapter."""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from core.config import ProviderCatalog
from core.errors import ProviderError
from core.i18n import Msg
from core.providers.images import Image, openai_size, openai_tokens, patch_tokens


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks the caller to run: OpenAI's shape (arguments: the JSON text the model wrote)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant's calls (an API client's conversation sends them back)
    tool_call_id: str | None = None  # a tool message: the result of this call
    images: tuple[Image, ...] = ()  # a user's images, as given (each adapter scales them to its provider's maximum)


@dataclass(frozen=True)
class Tooling:
    """What an API client asked beyond text, in OpenAI's shapes as it sent them (validated by core.api.schemas):
    function tools, how to choose among them, and the reply's format. Adapters translate them (Anthropic)."""

    tools: tuple[dict[str, Any], ...] = ()
    choice: str | dict[str, Any] | None = None  # none | auto | required | {"type": "function", ...}
    parallel: bool | None = None
    response_format: dict[str, Any] | None = None  # json_object | json_schema (text is not asked for)
    in_conversation: bool = False  # the conversation carries tool calls or results: only a model with tools reads it

    def needs(self) -> frozenset[str]:
        """The capabilities a model must have to answer (core.providers.base.Provider.supports)."""
        return frozenset({"tools"} if self.tools or self.in_conversation else set()) | frozenset(
            {"json_mode"} if self.response_format else set())

    def texts(self) -> list[str]:
        """What is sent as text with the request: the tools' definitions, the choice and the format."""
        parts: list[Any] = [*self.tools, self.choice, self.response_format]
        return [json.dumps(p, ensure_ascii=False) for p in parts if p]


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    system: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    stop: tuple[str, ...] = ()  # sequences that end the reply
    tooling: Tooling | None = None  # tools and formats (the API's clients only)


@dataclass(frozen=True)
class Usage:
    tokens_in: int
    tokens_out: int
    estimated: bool = False  # True when the provider reported nothing and we counted
    cached_in: int = 0  # of tokens_in, read from the provider's prompt cache (priced as it reports them)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    usage: Usage
    model: str
    stop_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


StreamEvent = TextDelta | Finished


@dataclass(frozen=True)
class ChatResult:
    text: str
    usage: Usage
    model: str
    stop_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class KeyCheck:
    status: Literal["valid", "invalid", "unreachable"]
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "valid"


@dataclass(frozen=True)
class Credentials:
    """What a provider needs to answer for one user: a key and/or a base URL."""

    api_key: str | None = None
    base_url: str | None = None
    source: str = "org"  # org | user | none
    extra: dict[str, str] = field(default_factory=dict)


def estimate_tokens(text: str) -> int:
    """Conservative token count without a tokenizer: about one token per three UTF-8 bytes."""
    return math.ceil(len(text.encode("utf-8")) / 3)


# What a chat template adds, at most: markers around each message (role, separators: OpenAI counts 3-4, Llama 3 and
# ChatML 5-6), and around the whole request (the reply's priming, a default system prompt some templates insert).
MESSAGE_MARKERS_BOUND = 8
REQUEST_MARKERS_BOUND = 64
# What a provider adds when a request has tools: Anthropic documents a tool-use system prompt of up to 346 tokens;
# OpenAI renders the definitions as text (shorter than their JSON, whose bytes are counted on top).
TOOLS_PROMPT_BOUND = 1024


def prompt_bound(texts: list[str]) -> int:
    """Input tokens a request made of these texts (system prompt, messages) can be billed, at most.

    Byte-level tokenizers (OpenAI's, Anthropic's, Llama's with byte fallback) never make a token of less than one
    UTF-8 byte, so the bytes bound the text; the template's markers are bounded on top. An estimate may say less;
    a budget's hold needs a number no provider can exceed.
    """
    return sum(len(t.encode("utf-8")) + MESSAGE_MARKERS_BOUND for t in texts if t) + REQUEST_MARKERS_BOUND


def needs_of(tooling: Tooling | None, messages: Sequence[ChatMessage]) -> frozenset[str]:
    """The capabilities a model must have to answer these messages with this tooling (Provider.supports)."""
    vision = frozenset({"vision"}) if any(m.images for m in messages) else frozenset()
    return (tooling.needs() if tooling else frozenset()) | vision


def sent_texts(request: ChatRequest) -> list[str]:
    """The texts a request sends: its system prompt, its messages (calls and results included), its tools."""
    tools = request.tooling.texts() if request.tooling else []
    return [request.system, *(message_text(m) for m in request.messages), *tools]


def request_bound(request: ChatRequest, provider: Provider) -> int:
    """The input tokens the request can be billed by provider, at most (what a budget holds for it)."""
    tools = TOOLS_PROMPT_BOUND if request.tooling and request.tooling.tools else 0
    return prompt_bound(sent_texts(request)) + tools + image_tokens(request, provider)


def image_tokens(request: ChatRequest, provider: Provider) -> int:
    """The tokens the request's images are billed by provider (its documented formula, at the size it sends)."""
    return sum(provider.image_tokens(request.model, i) for m in request.messages for i in m.images)


def message_text(message: ChatMessage) -> str:
    """Everything a message sends as text: its content, its calls (names and arguments), the call it answers."""
    if not message.tool_calls and message.tool_call_id is None:
        return message.content
    calls = " ".join(f"{c.id} {c.name} {c.arguments}" for c in message.tool_calls)
    return f"{message.tool_call_id or ''} {message.content} {calls}"


class Provider:
    """Base adapter. Subclasses implement stream(); generate() (a whole reply at once) is built on it, and adapters
    whose API answers plainly override it: a plain call costs the provider's client less than reading a stream."""

    name: ClassVar[str] = "base"
    label: ClassVar[str] = "Provider"
    supports_system: ClassVar[bool] = True
    supports_temperature: ClassVar[bool] = True
    needs_key: ClassVar[bool] = True
    has_async: ClassVar[bool] = False  # agenerate() is implemented
    # Capabilities every model of this provider has unless its catalog entry says otherwise (ModelInfo).
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, catalog: ProviderCatalog, credentials: Credentials) -> None:
        self.catalog = catalog
        self.credentials = credentials

    def list_models(self) -> list[str]:
        return list(self.catalog.models)

    def context_window(self, model: str) -> int:
        info = self.catalog.models.get(model)
        return info.context_window if info else 4096

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def supports(self, model: str, needs: frozenset[str]) -> bool:
        """The model can do all of needs (tools, json_mode): its catalog entry says, else the provider's default."""
        if not needs:
            return True
        info = self.catalog.models.get(model)
        said = {"tools": info.tools, "json_mode": info.json_mode, "vision": info.vision} if info else {}
        return all(said[n] if said.get(n) is not None else n in self.capabilities for n in needs)

    def image_size(self, image: Image) -> tuple[int, int]:
        """The size an image is sent at (scaled down to what the provider documents as its maximum)."""
        return openai_size(image.width, image.height, image.detail)

    def image_tokens(self, model: str, image: Image) -> int:
        """The input tokens an image can be billed, at most (here: OpenAI's count or one per 16-pixel patch)."""
        width, height = self.image_size(image)
        return max(openai_tokens(model, width, height, image.detail), patch_tokens(width, height))

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        raise NotImplementedError

    def generate(self, request: ChatRequest) -> ChatResult:
        """The whole reply at once (an API client that did not ask for a stream)."""
        parts: list[str] = []
        stream = self.stream(request)
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                else:
                    return ChatResult(text="".join(parts), usage=event.usage, model=event.model,
                                      stop_reason=event.stop_reason, tool_calls=event.tool_calls)
        finally:
            stream.close()
        raise ProviderError(Msg("providers.unfinished_generic"))

    async def agenerate(self, request: ChatRequest) -> ChatResult:
        """generate() as a coroutine on the caller's event loop, so that cancelling it (the client left) closes the
        provider's connection at once. Only where has_async says so."""
        raise NotImplementedError

    def validate_key(self, api_key: str) -> KeyCheck:
        raise NotImplementedError

    def unavailable_reason(self) -> str | None:
        """None when this adapter, with its credentials, can answer; else why not (shown in the model picker)."""
        if self.needs_key and not self.credentials.api_key:
            return Msg("providers.no_key")
        return None
