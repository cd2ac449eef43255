"""Build the context for one request: the system prompt always, then the newest messages that fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.chat.attached import Attached
from core.chat.files import with_documents
from core.chat.options import TurnOptions, TurnSetup
from core.chat.sources import system_with_sources
from core.config import Settings
from core.errors import ValidationError
from core.i18n import Msg
from core.knowledge import Hit
from core.models import Message, MessageRole, MessageStatus
from core.providers.base import (
    ChatMessage,
    ChatRequest,
    Provider,
    Tooling,
    message_text,
    request_bound,
    sent_texts,
)
from core.validation import sanitize

PER_MESSAGE_OVERHEAD = 4  # role markers and separators in every chat template
SAFETY_MARGIN = 16


def prompt_tokens(provider: Provider, texts: Sequence[str]) -> int:
    """The tokens a prompt of these texts (system prompt and messages) takes, as the provider counts them."""
    return sum(provider.count_tokens(t) + PER_MESSAGE_OVERHEAD for t in texts if t)


def _message_tokens(message: Message, provider: Provider, model: str, attached: Attached | None) -> int:
    # Provider-reported usage is exact for replies; user messages are counted (or estimated), images as billed.
    if message.role == MessageRole.assistant and message.tokens_out and message.provider == provider.name:
        return message.tokens_out + PER_MESSAGE_OVERHEAD
    images = sum(provider.image_tokens(model, i) for i in attached.counted(message)) if attached else 0
    return provider.count_tokens(_text(message, attached)) + PER_MESSAGE_OVERHEAD + images


def _text(message: Message, attached: Attached | None) -> str:
    """What the model reads of a message: its documents, then its text."""
    return with_documents(message.content, attached.documents_of(message)) if attached else message.content


def _usable(messages: Sequence[Message], attached: Attached | None = None) -> list[Message]:
    # Failed replies carry nothing for the model (but a partial one whose Continue failed does); a reply still being
    # written is not an answer yet.
    def skipped(m: Message) -> bool:
        return m.status == MessageStatus.streaming or (m.status == MessageStatus.error and not m.stop_reason)
    return [m for m in messages if (m.content or (attached and (attached.counted(m) or attached.documents_of(m))))
            and not (m.role == MessageRole.assistant and skipped(m))]


def _merge_same_role(messages: list[ChatMessage]) -> list[ChatMessage]:
    merged: list[ChatMessage] = []
    for m in messages:
        if merged and merged[-1].role == m.role:
            merged[-1] = ChatMessage(m.role, merged[-1].content + "\n\n" + m.content,
                                     images=merged[-1].images + m.images)
        else:
            merged.append(m)
    return merged


def build_context(history: Sequence[Message], provider: Provider, model: str, max_tokens: int,
                  system_prompt: str, *, trim: bool = True, attached: Attached | None = None) -> list[ChatMessage]:
    """Newest messages that fit the model's window after the system prompt and the reply's room (with their
    images: counted as billed, their bytes read only for the messages that fit).

    trim=False (the API): every message must fit, or ValidationError; nothing is dropped silently.
    """
    window = provider.context_window(model)
    budget = window - max_tokens - SAFETY_MARGIN
    if system_prompt:
        budget -= provider.count_tokens(system_prompt) + PER_MESSAGE_OVERHEAD
    chosen: list[Message] = []
    used = 0
    for message in reversed(_usable(history, attached)):
        cost = _message_tokens(message, provider, model, attached)
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
    images = attached.images(chosen) if attached else {}
    merged = _merge_same_role([ChatMessage(str(m.role), _text(m, attached), images=images.get(m.id or 0, ()))  # type: ignore[arg-type]
                               for m in chosen])
    if merged and merged[-1].role == "assistant":  # a reply to go on with (Continue): no trailing space (Anthropic)
        merged[-1] = ChatMessage("assistant", merged[-1].content.rstrip())
    return merged


def exchange_context(exchange: Sequence[ChatMessage], provider: Provider, model: str, max_tokens: int,
                     system_prompt: str, tooling: Tooling | None) -> list[ChatMessage]:
    """An API conversation with tool calls and results or images, as it came: every message must fit with the
    tools (an image counted as its provider bills it)."""
    window = provider.context_window(model)
    extra = [system_prompt, *(tooling.texts() if tooling else [])]
    used = sum(provider.count_tokens(t) + PER_MESSAGE_OVERHEAD for t in [*extra, *map(message_text, exchange)] if t)
    used += sum(provider.image_tokens(model, image) for m in exchange for image in m.images)
    if used > window - max_tokens - SAFETY_MARGIN:
        raise ValidationError(Msg("validation.context_too_long", model=model, tokens=window))
    return list(exchange)


def stored_text(message: ChatMessage) -> str:
    """How a message with tool calls or a tool's result reads where a conversation is kept (api.store_conversations):
    its text, then each call as name(arguments); a result after the id of the call it answers; an image as its
    size and type (core.providers.images.Image.label)."""
    if message.role == "tool":
        return f"[{message.tool_call_id}] {message.content}"
    calls = "\n".join(f"→ {c.name}({c.arguments}) [{c.id}]" for c in message.tool_calls)
    images = " ".join(image.label for image in message.images)
    return "\n\n".join(t for t in (images, message.content, calls) if t)


def build_request(setup: TurnSetup, provider: Provider, model: str) -> ChatRequest:
    """The provider request of a turn (see request_for)."""
    return request_for(setup.options, setup.history, setup.sources, provider, model, trim=setup.trim,
                       exchange=setup.exchange, attached=setup.attached)


def request_for(options: TurnOptions, history: Sequence[Message], sources: tuple[Hit, ...], provider: Provider,
                model: str, *, trim: bool = True, exchange: Sequence[ChatMessage] = (),
                attached: Attached | None = None) -> ChatRequest:
    """The provider request: the system prompt with the knowledge-base sources (half of what the window leaves
    after the reply's room at most), then the newest messages that fit (or the API's exchange, whole)."""
    room = (provider.context_window(model) - options.max_tokens - SAFETY_MARGIN) // 2
    system = system_with_sources(options.system_prompt, sources, provider, room)
    messages = exchange_context(exchange, provider, model, options.max_tokens, system, options.tooling) \
        if exchange else build_context(history, provider, model, options.max_tokens, system, trim=trim,
                                       attached=attached)
    return ChatRequest(model=model, messages=messages, system=system, temperature=options.temperature,
                       max_tokens=options.max_tokens, stop=options.stop, tooling=options.tooling)


def request_texts(request: ChatRequest) -> list[str]:
    """The texts a request sends: its system prompt, then its messages (and tools)."""
    return sent_texts(request)


def first_call_bound(provider: Provider, options: TurnOptions, history: Sequence[Message], sources: tuple[Hit, ...],
                     trim: bool, exchange: Sequence[ChatMessage] = (), attached: Attached | None = None) -> int:
    """The most input tokens a turn's first call can be billed: its request is built now exactly as the turn will
    build it (trimmed to the model's window), and bounded by its bytes (core.providers.base.prompt_bound)."""
    try:
        request = request_for(options, history, sources, provider, options.model, trim=trim, exchange=exchange,
                              attached=attached)
    except ValidationError:
        return 0  # nothing fits: the turn fails before asking any provider (and releases the hold)
    return request_bound(request, provider)


def clean_options(options: TurnOptions, settings: Settings) -> TurnOptions:
    """The options under the text rule, whoever built them (a page's form, the API, a script): the system prompt is
    stored with the conversation and sent to the provider (a NUL in it broke PostgreSQL)."""
    system = sanitize(options.system_prompt or "", max_chars=settings.api.max_body_kb * 1024)
    return options if system == options.system_prompt else replace(options, system_prompt=system)
