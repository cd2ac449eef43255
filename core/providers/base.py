"""The provider interface: one streaming generator per adapter; SDK types never leave an adapter."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from core.config import ProviderCatalog
from core.errors import ProviderError
from core.i18n import Msg


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    system: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    stop: tuple[str, ...] = ()  # sequences that end the reply


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


StreamEvent = TextDelta | Finished


@dataclass(frozen=True)
class ChatResult:
    text: str
    usage: Usage
    model: str
    stop_reason: str | None = None


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


def prompt_bound(texts: list[str]) -> int:
    """Input tokens a request made of these texts (system prompt, messages) can be billed, at most.

    Byte-level tokenizers (OpenAI's, Anthropic's, Llama's with byte fallback) never make a token of less than one
    UTF-8 byte, so the bytes bound the text; the template's markers are bounded on top. An estimate may say less;
    a budget's hold needs a number no provider can exceed.
    """
    return sum(len(t.encode("utf-8")) + MESSAGE_MARKERS_BOUND for t in texts if t) + REQUEST_MARKERS_BOUND


class Provider:
    """Base adapter. Subclasses implement stream(); generate() (a whole reply at once) is built on it, and adapters
    whose API answers plainly override it: a plain call costs the provider's client less than reading a stream."""

    name: ClassVar[str] = "base"
    label: ClassVar[str] = "Provider"
    supports_system: ClassVar[bool] = True
    supports_temperature: ClassVar[bool] = True
    needs_key: ClassVar[bool] = True
    has_async: ClassVar[bool] = False  # agenerate() is implemented

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
                                      stop_reason=event.stop_reason)
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
