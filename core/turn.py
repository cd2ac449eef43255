"""One assistant reply: stream from the chosen provider (cache, fallback), then store it and its usage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import col, update

from core.cache import CachedReply, cache_key
from core.context import PER_MESSAGE_OVERHEAD, build_context
from core.db import session_scope
from core.errors import ProviderError, ProviderUnavailable, ValidationError
from core.i18n import Msg
from core.models import Conversation, Message, MessageStatus
from core.providers.base import ChatRequest, Finished, Provider, TextDelta, Usage
from core.usage import record_usage

if TYPE_CHECKING:
    from core.chat import ConversationManager


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
                 options: TurnOptions, history: list[Message], use_cache: bool = True,
                 provider: Provider | None = None) -> None:
        self.manager, self.user_id, self.conversation_id, self.options = manager, user_id, conversation_id, options
        self._provider = provider  # the chosen provider, already built (with its key) by the manager
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
        yield self._provider or self.manager.provider_factory(self.options.provider, self.user_id), self.options.model
        for name in dict.fromkeys(self.manager.settings.chat.fallback):
            if name == self.options.provider:
                continue
            provider = self.manager.provider_factory(name, self.user_id)
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
                raise ProviderUnavailable(Msg("providers.unfinished", provider=provider.label))
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
                             error=Msg("chat.stopped"), kind="stopped")
        assert self.outcome is not None
        return self.outcome


def _prompt_tokens(provider: Provider, request: ChatRequest) -> int:
    texts = [request.system, *(m.content for m in request.messages)]
    return sum(provider.count_tokens(t) + PER_MESSAGE_OVERHEAD for t in texts if t)
