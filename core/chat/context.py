"""Build the context for one request: the system prompt always, then the newest messages that fit."""

from __future__ import annotations

from collections.abc import Sequence

from core.chat.options import TurnSetup
from core.chat.sources import system_with_sources
from core.errors import ValidationError
from core.i18n import Msg
from core.models import Message, MessageRole, MessageStatus
from core.providers.base import ChatMessage, ChatRequest, Provider

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
    # Failed replies carry nothing for the model; a reply still being written is not an answer yet.
    skipped = (MessageStatus.error, MessageStatus.streaming)
    return [m for m in messages if m.content and not (m.role == MessageRole.assistant and m.status in skipped)]


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
    return _merge_same_role([ChatMessage(str(m.role), m.content) for m in chosen])  # type: ignore[arg-type]


def build_request(setup: TurnSetup, provider: Provider, model: str) -> ChatRequest:
    """The provider request of a turn: the system prompt with the turn's knowledge-base sources (half of what the
    window leaves after the reply's room at most), then the newest messages that fit."""
    options = setup.options
    room = (provider.context_window(model) - options.max_tokens - SAFETY_MARGIN) // 2
    system = system_with_sources(options.system_prompt, setup.sources, provider, room)
    messages = build_context(setup.history, provider, model, options.max_tokens, system, trim=setup.trim)
    return ChatRequest(model=model, messages=messages, system=system, temperature=options.temperature,
                       max_tokens=options.max_tokens, stop=options.stop)
