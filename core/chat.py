"""ConversationManager: validate -> store the user message -> build context -> stream -> persist -> usage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import col, delete, update

from core.cache import CachedReply, ResponseCache, build_cache, cache_key
from core.config import Settings, get_settings
from core.context import PER_MESSAGE_OVERHEAD, build_context
from core.conversations import create_conversation, get_owned, messages_of, title_from, update_settings
from core.db import get_engine, session_scope
from core.errors import ProviderError, ProviderUnavailable, ValidationError
from core.models import Conversation, Message, MessageStatus
from core.providers.base import ChatRequest, Finished, Provider, TextDelta, Usage
from core.providers.registry import build_provider
from core.ratelimit import RateLimitService
from core.usage import record_usage
from core.validation import clean_message


@dataclass(frozen=True)
class TurnOptions:
    provider: str
    model: str
    temperature: float = 0.7
    max_tokens: int = 512
    system_prompt: str = ""

    def params(self) -> dict[str, float | int]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


@dataclass
class TurnOutcome:
    status: str
    text: str
    provider: str | None = None
    model: str | None = None
    fallback_from: str | None = None
    error: str | None = None
    message_id: int | None = None


@dataclass
class _Attempt:
    provider: Provider
    model: str
    started: float
    prompt_tokens: int = 0
    first_token: float | None = None
    parts: list[str] = field(default_factory=list)


class Turn:
    """One assistant reply. Iterate deltas() to stream it; always call close() (in a finally)."""

    def __init__(self, manager: ConversationManager, user_id: int, conversation_id: int,
                 options: TurnOptions, history: list[Message], use_cache: bool = True) -> None:
        self.manager, self.user_id, self.conversation_id, self.options = manager, user_id, conversation_id, options
        self.use_cache = use_cache
        self._history = history  # loaded in the transaction that stored the user's message
        self.outcome: TurnOutcome | None = None
        self._attempt: _Attempt | None = None
        self._fallback_from: str | None = None
        self._gen: Iterator[str] | None = None

    def deltas(self) -> Iterator[str]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    def _candidates(self) -> Iterator[tuple[Provider, str]]:
        """The chosen provider, then (only if needed) the fallback chain's available ones."""
        yield self.manager.provider_factory(self.options.provider), self.options.model
        for name in dict.fromkeys(self.manager.settings.chat.fallback):
            if name == self.options.provider:
                continue
            provider = self.manager.provider_factory(name)
            models = provider.list_models()
            if provider.unavailable_reason() is None and models:
                yield provider, models[0]

    def _run(self) -> Iterator[str]:
        candidates = self._candidates()
        current = next(candidates, None)
        while current is not None:
            provider, model = current
            try:
                request = self._request(provider, model)
            except ValidationError as exc:
                self._finish(MessageStatus.error, provider, model, error=exc.user_message)
                return
            attempt = _Attempt(provider, model, self.manager.clock(), _prompt_tokens(provider, request))
            self._attempt = attempt
            key = self._cache_key(provider, request)
            cached = self.manager.cache.get(key) if key and self.use_cache else None
            if cached is not None:
                attempt.first_token = self.manager.clock()
                attempt.parts.append(cached.text)
                yield cached.text
                self._finish(MessageStatus.complete, provider, cached.model, usage=Usage(0, 0), cache_hit=True)
                return
            stream = provider.stream(request)
            try:
                for event in stream:
                    if isinstance(event, TextDelta):
                        if attempt.first_token is None:
                            attempt.first_token = self.manager.clock()
                        attempt.parts.append(event.text)
                        yield event.text
                    elif isinstance(event, Finished):
                        self._finish(MessageStatus.complete, provider, event.model, usage=event.usage)
                        if key:
                            self.manager.cache.put(key, CachedReply("".join(attempt.parts), event.model,
                                                                    event.usage.tokens_in, event.usage.tokens_out))
                        return
                raise ProviderUnavailable(f"{provider.label} ended the reply without finishing it.")
            except ProviderError as exc:
                if attempt.parts:  # part of the reply was shown: keep it, mark it
                    self._finish(MessageStatus.interrupted, provider, model, error=exc.user_message, kind=exc.kind)
                    return
                self._record_failed(attempt, exc)
                current = next(candidates, None) if exc.fallback else None
                if current is not None:
                    self._fallback_from = self._fallback_from or provider.name
                    continue
                self._finish(MessageStatus.error, provider, model, error=exc.user_message, kind=exc.kind,
                             record=False)
                return
            finally:
                stream.close()  # on stop, the provider stops generating / closes its connection
        return

    def _cache_key(self, provider: Provider, request: ChatRequest) -> str | None:
        # Only the chosen provider's answer is cached: a fallback reply should not stick.
        if self._fallback_from is None and self.manager.cache.applies(request):
            return cache_key(self.user_id, provider.name, request)
        return None

    def _request(self, provider: Provider, model: str) -> ChatRequest:
        messages = build_context(self._history, provider, model, self.options.max_tokens, self.options.system_prompt)
        return ChatRequest(model=model, messages=messages, system=self.options.system_prompt,
                           temperature=self.options.temperature, max_tokens=self.options.max_tokens)

    def _record_failed(self, attempt: _Attempt, exc: ProviderError) -> None:
        with session_scope(self.manager.engine) as session:
            record_usage(session=session, user_id=self.user_id, conversation_id=self.conversation_id,
                         provider=attempt.provider.name, model=attempt.model, usage=Usage(0, 0),
                         status=MessageStatus.error.value, error_kind=exc.kind, ttft_ms=None,
                         total_ms=(self.manager.clock() - attempt.started) * 1000, settings=self.manager.settings)

    def _finish(self, status: MessageStatus, provider: Provider, model: str, *, usage: Usage | None = None,
                error: str | None = None, kind: str | None = None, record: bool = True,
                cache_hit: bool = False) -> None:
        attempt = self._attempt
        text = "".join(attempt.parts) if attempt else ""
        now = self.manager.clock()
        if usage is None and attempt is not None:  # stopped or failed: count what was sent and produced
            produced = provider.count_tokens("".join(attempt.parts)) if attempt.parts else 0
            usage = Usage(attempt.prompt_tokens, produced, estimated=True)
        with session_scope(self.manager.engine) as session:
            message = Message(conversation_id=self.conversation_id, role="assistant", content=text,
                              status=status.value, provider=provider.name, model=model,
                              fallback_from=self._fallback_from, error=error,
                              tokens_in=usage.tokens_in if usage else None,
                              tokens_out=usage.tokens_out if usage else None)
            session.add(message)
            touch = update(Conversation).where(col(Conversation.id) == self.conversation_id)
            session.exec(touch.values(updated_at=message.created_at))  # type: ignore[call-overload]
            if record and attempt is not None and usage is not None:
                record_usage(session=session, user_id=self.user_id, conversation_id=self.conversation_id,
                             provider=provider.name, model=model, usage=usage, status=status.value,
                             error_kind=kind, cache_hit=cache_hit,
                             ttft_ms=(attempt.first_token - attempt.started) * 1000 if attempt.first_token else None,
                             total_ms=(now - attempt.started) * 1000, settings=self.manager.settings)
            session.flush()
            self.outcome = TurnOutcome(status.value, text, provider.name, model, self._fallback_from, error,
                                       message.id)

    def close(self) -> TurnOutcome:
        """Finish the turn: a reply cut short (stop pressed, page left) is kept and marked interrupted."""
        if self._gen is not None:
            self._gen.close()  # type: ignore[attr-defined]
        if self.outcome is None:
            attempt = self._attempt
            if attempt is None:  # never started: nothing was asked of any provider
                self.outcome = TurnOutcome(MessageStatus.interrupted.value, "")
            else:
                self._finish(MessageStatus.interrupted, attempt.provider, attempt.model,
                             error="Stopped before the reply was complete.", kind="stopped")
        assert self.outcome is not None
        return self.outcome


def _prompt_tokens(provider: Provider, request: ChatRequest) -> int:
    texts = [request.system, *(m.content for m in request.messages)]
    return sum(provider.count_tokens(t) + PER_MESSAGE_OVERHEAD for t in texts if t)


class ConversationManager:
    """Runs chat turns for one user at a time; providers come from the registry (or a test factory)."""

    def __init__(self, *, engine: Engine | None = None, settings: Settings | None = None,
                 provider_factory: Callable[[str], Provider] | None = None,
                 limiter: RateLimitService | None = None, cache: ResponseCache | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.settings = settings or get_settings()
        self.engine = engine or get_engine(self.settings)
        self.provider_factory = provider_factory or (lambda name: build_provider(name, settings=self.settings))
        self.limiter = limiter or RateLimitService(self.settings)
        self.cache = cache or build_cache(self.settings)
        self.clock = clock

    def send(self, *, user_id: int, conversation_id: int | None, text: str, options: TurnOptions) -> Turn:
        """Store the user's message (creating the conversation if needed) and return the reply's Turn."""
        text = clean_message(text, max_chars=self.settings.chat.max_input_chars)
        self._check_provider(options)
        with session_scope(self.engine) as session:
            self.limiter.check_and_consume(session, user_id)  # before anything is stored or asked
            if conversation_id is None:
                conv = create_conversation(session=session, user_id=user_id, provider=options.provider,
                                           model=options.model, system_prompt=options.system_prompt,
                                           params=options.params(),
                                           title=title_from(text, self.settings.chat.title_chars))
            else:
                conv = get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
                update_settings(session=session, conv=conv, provider=options.provider, model=options.model,
                                system_prompt=options.system_prompt, params=options.params())
            history = [] if conversation_id is None else messages_of(session=session, conversation_id=conv.id or 0)
            message = Message(conversation_id=conv.id or 0, role="user", content=text)
            session.add(message)
            session.flush()
            conv_id = conv.id or 0
        return Turn(self, user_id, conv_id, options, [*history, message])

    def regenerate(self, *, user_id: int, conversation_id: int, options: TurnOptions) -> Turn:
        """Replace the last reply with a new one."""
        self._check_provider(options)
        with session_scope(self.engine) as session:
            get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = messages_of(session=session, conversation_id=conversation_id)
            if not history or history[-1].role != "assistant":
                raise ValidationError("There is no reply to regenerate.")
            self.limiter.check_and_consume(session, user_id)
            session.delete(history[-1])
        # A regenerated reply must be new: the cache is skipped (its fresh answer replaces the entry).
        return Turn(self, user_id, conversation_id, options, history[:-1], use_cache=False)

    def edit_last(self, *, user_id: int, conversation_id: int, text: str, options: TurnOptions) -> Turn:
        """Change the last user message, drop what followed it, and answer again."""
        text = clean_message(text, max_chars=self.settings.chat.max_input_chars)
        self._check_provider(options)
        with session_scope(self.engine) as session:
            get_owned(session=session, user_id=user_id, conversation_id=conversation_id)
            history = messages_of(session=session, conversation_id=conversation_id)
            last_user = next((m for m in reversed(history) if m.role == "user"), None)
            if last_user is None:
                raise ValidationError("There is no message to edit.")
            self.limiter.check_and_consume(session, user_id)
            last_user.content = text
            session.add(last_user)
            later = delete(Message).where(col(Message.conversation_id) == conversation_id,
                                          col(Message.id) > (last_user.id or 0))
            session.exec(later)  # type: ignore[call-overload]
            kept = [m for m in history if (m.id or 0) <= (last_user.id or 0)]
        return Turn(self, user_id, conversation_id, options, kept)

    def _check_provider(self, options: TurnOptions) -> None:
        provider = self.provider_factory(options.provider)
        reason = provider.unavailable_reason()
        if reason:
            raise ValidationError(f"{provider.label} cannot answer: {reason}. Pick another model.")
