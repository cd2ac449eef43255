"""Build the context for one request: the system prompt always, then the newest messages that fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.chat.options import TurnOptions, TurnSetup
from core.chat.sources import system_with_sources
from core.config import Settings
from core.errors import ValidationError
from core.i18n import Msg
from core.knowledge import Hit
from core.models import Message, MessageRole, MessageStatus
from core.providers.base import ChatMessage, ChatRequest, Provider, prompt_bound
from core.validation import sanitize

PER_MESSAGE_OVERHEAD = 4  # role markers and separators in every chat template
SAFETY_MARGIN = 16


def prompt_tokens(provider: Provider, texts: Sequence[str]) -> int:
    """The tokens a prompt of these texts (system prompt and messages) takes, as the provider counts them."""
    return sum(provider.count_tokens(t) + PER_MESSAGE_OVERHEAD for t in texts if t)


def _message_tokens(message: Message, provider: Provider) -> int:
    # Provider-reported usage is exact for replies; user messages are counted (or estimated).
    if message.role == MessageRole.assistant and message.tokens_out and message.provider == provider.name:
        return message.tokens_out + PER_MESSAGE_OVERHEAD
    return provider.count_tokens(message.content) + PER_MESSAGE_OVERHEAD


def _usable(messages: Sequence[Message]) -> list[Message]:
    # Failed replies carry nothing for the model (but a partial one whose Continue failed does); a reply still being
    # written is not an answer yet.
    def skipped(m: Message) -> bool:
        return m.status == MessageStatus.streaming or (m.status == MessageStatus.error and not m.stop_reason)
    return [m for m in messages if m.content and not (m.role == MessageRole.assistant and skipped(m))]


def _merge_same_role(messages: list[ChatMessage]) -> list[ChatMessage]:
    merged: list[ChatMessage] = []
    for m in messages:
        if merged and merged[-1].role == m.role:
            merged[-1] = ChatMessage(m.role, merged[-1].content + "\n\n" + m.content)
        else:
            merged.append(m)
    return merged


def build_context(history: Sequence[Message], provider: Provider, model: str, max_tokens: int,
                  system_prompt: str, *, trim: bool = True) -> list[ChatMessage]:
    """Newest messages that fit the model's window after the system prompt and the reply's room.

    trim=False (the API): every message must fit, or ValidationError; nothing is dropped silently.
    """
    window = provider.context_window(model)
    budget = window - max_tokens - SAFETY_MARGIN
    if system_prompt:
        budget -= provider.count_tokens(system_prompt) + PER_MESSAGE_OVERHEAD
    chosen: list[Message] = []
    used = 0
    for message in reversed(_usable(history)):
        cost = _message_tokens(message, provider)
        if used + cost > budget:
            if not trim:
                raise ValidationError(Msg("validation.context_too_long", model=model, tokens=window))
            break
        chosen.append(message)
        used += cost
    if not chosen:
        raise ValidationError(Msg("validation.context_too_long", model=model, tokens=window))
    chosen.reverse()
    while chosen and chosen[0].role != MessageRole.user:  # every provider wants the user to speak first
        chosen.pop(0)
    merged = _merge_same_role([ChatMessage(str(m.role), m.content) for m in chosen])  # type: ignore[arg-type]
    if merged and merged[-1].role == "assistant":  # a reply to go on with (Continue): no trailing space (Anthropic)
        merged[-1] = ChatMessage("assistant", merged[-1].content.rstrip())
    return merged


def build_request(setup: TurnSetup, provider: Provider, model: str) -> ChatRequest:
    """The provider request of a turn (see request_for)."""
    return request_for(setup.options, setup.history, setup.sources, provider, model, trim=setup.trim)


def request_for(options: TurnOptions, history: Sequence[Message], sources: tuple[Hit, ...], provider: Provider,
                model: str, *, trim: bool = True) -> ChatRequest:
    """The provider request: the system prompt with the knowledge-base sources (half of what the window leaves
    after the reply's room at most), then the newest messages that fit."""
    room = (provider.context_window(model) - options.max_tokens - SAFETY_MARGIN) // 2
    system = system_with_sources(options.system_prompt, sources, provider, room)
    messages = build_context(history, provider, model, options.max_tokens, system, trim=trim)
    return ChatRequest(model=model, messages=messages, system=system, temperature=options.temperature,
                       max_tokens=options.max_tokens, stop=options.stop)


def request_texts(request: ChatRequest) -> list[str]:
    """The texts a request sends: its system prompt, then its messages."""
    return [request.system, *(m.content for m in request.messages)]


def request_bound(request: ChatRequest) -> int:
    """The input tokens the request can be billed, at most (what a budget holds for it)."""
    return prompt_bound(request_texts(request))


def first_call_bound(provider: Provider, options: TurnOptions, history: Sequence[Message], sources: tuple[Hit, ...],
                     trim: bool) -> int:
    """The most input tokens a turn's first call can be billed: its request is built now exactly as the turn will
    build it (trimmed to the model's window), and bounded by its bytes (core.providers.base.prompt_bound)."""
    try:
        request = request_for(options, history, sources, provider, options.model, trim=trim)
    except ValidationError:
        return 0  # nothing fits: the turn fails before asking any provider (and releases the hold)
    return request_bound(request)


def clean_options(options: TurnOptions, settings: Settings) -> TurnOptions:
    """The options under the text rule, whoever built them (a page's form, the API, a script): the system prompt is
    stored with the conversation and sent to the provider (a NUL in it broke PostgreSQL)."""
    system = sanitize(options.system_prompt or "", max_chars=settings.api.max_body_kb * 1024)
    return options if system == options.system_prompt else replace(options, system_prompt=system)
