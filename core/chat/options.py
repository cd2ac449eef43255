"""What a turn is given (options, process dependencies, its setup) and what it gives back (its outcome)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine

from core.chat.attached import Attached
from core.chat.cache import ResponseCache
from core.chat.choice import ProviderChooser
from core.config import LimitDefaults, Settings
from core.db_batch import GroupCommit
from core.knowledge import Hit
from core.models import Message, MessageStatus, Team, UsageSource
from core.providers.base import ChatMessage, ChatResult, ToolCall, Tooling, Usage, needs_of
from core.usage import Budgets, Hold

TeamChoice = int | str | None  # the team to charge, by id or name; None: the user's default team


class CallStopped(Exception):
    """A provider call abandoned before it answered: its client left (the call's connection is closed)."""


class PlainCalls(Protocol):
    """Runs a provider's plain call (a coroutine) where it can be abandoned the moment its client leaves, and waits
    for its result; CallStopped when it was abandoned. The API's request stream is one (core.api.streaming)."""

    def __call__(self, call: Callable[[], Awaitable[ChatResult]], /) -> ChatResult: ...


@dataclass(frozen=True)
class TurnOptions:
    provider: str
    model: str
    temperature: float = 0.7
    max_tokens: int = 512
    system_prompt: str = ""
    stop: tuple[str, ...] = ()
    knowledge_bases: tuple[int, ...] = ()  # answer from these (numbered sources in the prompt, cited as [n])
    tooling: Tooling | None = None  # an API client's tools and reply format (only models that can take them answer)

    def params(self) -> dict[str, float | int]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


@dataclass(frozen=True)
class TurnDeps:
    """What every turn needs from the process, built once by the manager."""

    engine: Engine
    settings: Settings
    cache: ResponseCache
    clock: Callable[[], float]
    budgets: Budgets  # holds each provider call's worst case before it, settles it after
    writes: GroupCommit  # the end of each turn (reply, usage, settle) committed together with other turns'


@dataclass(frozen=True)
class Charged:
    """The team to charge, already read for this request (None: no team): not looked up again."""

    team: Team | None


@dataclass(frozen=True)
class Reserved:
    """What the manager checked before storing the request: the user's limits and the first call's hold."""

    limits: tuple[LimitDefaults, bool]  # (limits, exempt)
    hold: Hold | None  # None: no budget applies (unlimited, exempt)
    team: Team | None = None  # the team charged (its allow-list and budgets apply to fallbacks too)


@dataclass(frozen=True)
class TurnSetup:
    """What one turn is about: whose, which conversation, its options and history, and its providers."""

    user_id: int
    conversation_id: int | None  # None: an API request nobody asked to keep (its usage is still recorded)
    options: TurnOptions
    history: list[Message]  # loaded in the transaction that stored the user's message (or sent by the API)
    providers: ProviderChooser  # the chosen provider was checked with it: its key is not resolved again
    reserved: Reserved  # the first attempt's hold; a fallback attempt takes its own
    use_cache: bool = True
    source: UsageSource = UsageSource.ui
    token_name: str | None = None  # the API token that asked
    trim: bool = True  # chat: drop the oldest messages that do not fit; API: everything must fit
    sources: tuple[Hit, ...] = ()  # passages retrieved from the options' knowledge bases, best first
    notice: str | None = None  # e.g. documents of those knowledge bases still being indexed
    continues: int | None = None  # the reply this turn goes on with (its text is appended to it)
    plain: bool = False  # the provider is asked for the whole reply at once (an API client that did not stream)
    calls: PlainCalls | None = None  # where a plain call runs (else on the turn's own thread, not abandonable)
    exchange: tuple[ChatMessage, ...] = ()  # an API conversation with tool calls and results: sent as it came
    attached: Attached | None = None  # the images of the history's messages (core.chat.attached)

    def needs(self) -> frozenset[str]:
        """What a model must take to answer this turn (tools, a JSON format, images): the fallback chain's filter."""
        seen = frozenset({"vision"}) if self.attached and self.attached.has_images else frozenset()
        return needs_of(self.options.tooling, self.exchange) | seen


@dataclass
class TurnOutcome:
    status: MessageStatus
    text: str
    provider: str | None = None
    model: str | None = None
    fallback_from: str | None = None
    error: str | None = None
    message_id: int | None = None
    error_kind: str | None = None
    stop_reason: str | None = None
    usage: Usage | None = None  # as recorded (a cache hit costs nothing)
    tool_calls: tuple[ToolCall, ...] = ()  # what the model asked the client to run
