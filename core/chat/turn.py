"""One assistant reply: stream from the chosen provider (cache, fallback), then store it and its usage."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from sqlmodel import Session

from core import lifecycle
from core.chat import live
from core.chat.cache import CachedReply, cache_key
from core.chat.choice import fallback_chain
from core.chat.context import build_request
from core.chat.context import prompt_tokens as count_prompt
from core.chat.options import TurnDeps, TurnOutcome, TurnSetup
from core.chat.sources import store_sources
from core.db import session_scope
from core.errors import ProviderError, ProviderUnavailable, RateLimited, ValidationError
from core.i18n import Msg
from core.models import Message, MessageRole, MessageStatus, UsageEvent, UsageStatus
from core.providers.base import ChatRequest, Finished, Provider, TextDelta, Usage
from core.usage import Hold, record_usage


@dataclass
class _Attempt:
    provider: Provider
    model: str
    started: float
    prompt_tokens: int = 0
    hold: Hold | None = None  # its budget hold, settled with its usage event
    settled: bool = False
    first_token: float | None = None
    parts: list[str] = field(default_factory=list)


class Turn:
    """One assistant reply. Iterate deltas() to stream it; always call close() (in a finally)."""

    def __init__(self, deps: TurnDeps, setup: TurnSetup) -> None:
        self.deps, self.setup = deps, setup
        self.conversation_id = setup.conversation_id
        self.outcome: TurnOutcome | None = None
        self._attempt: _Attempt | None = None
        self._fallback_from: str | None = None
        self._gen: Iterator[str] | None = None
        self._hold = setup.reserved.hold  # taken by the manager for the first attempt
        self._counted = True  # in lifecycle's turns in flight until close(): a graceful stop waits for it
        lifecycle.turn_started()
        self._reply_id: int | None = None  # the reply's row while it streams (core.chat.live), flushed at:
        self._flushed = 0.0

    def deltas(self) -> Iterator[str]:
        self._gen = self._gen or self._run()
        return self._gen

    def close(self) -> TurnOutcome:
        """Finish the turn: a reply cut short (stop pressed, page left) is kept and marked interrupted."""
        if self._gen is not None:
            self._gen.close()  # type: ignore[attr-defined]
        if self.outcome is None:
            attempt = self._attempt
            if attempt is None:  # never started: nothing was asked of any provider
                self.outcome = TurnOutcome(MessageStatus.interrupted, "")
            else:
                self._finish(MessageStatus.interrupted, attempt.provider, attempt.model,
                             error=Msg("chat.stopped"), kind="stopped")
        self._release_unsettled()
        live.closed(self.deps.engine, self._reply_id)
        if self._counted:
            self._counted = False
            lifecycle.turn_ended()
        assert self.outcome is not None
        return self.outcome

    def _release_unsettled(self) -> None:
        """A hold no usage event settled (the turn never reached a provider, or failed storing): released."""
        attempt, budgets = self._attempt, self.deps.budgets
        if attempt is not None and attempt.hold is not None and not attempt.settled:
            attempt.settled = True
            budgets.release(attempt.hold)
        hold, self._hold = self._hold, None
        budgets.release(hold)

    def _run(self) -> Generator[str, None, None]:
        """The chosen provider, then the fallback chain, until one answers or an error ends the turn."""
        options, team = self.setup.options, self.setup.reserved.team
        candidates = fallback_chain(self.setup.providers, options.provider, options.model,
                                    self.deps.settings.chat.fallback, team)
        current = next(candidates, None)
        while current is not None:
            failure = yield from self._try(*current)
            if failure is None:
                return
            following = next(candidates, None) if failure.fallback else None
            if following is None:
                self._finish(MessageStatus.error, *current, error=failure.user_message, kind=failure.kind,
                             record=False)  # its usage was recorded with the failed attempt
                return
            self._fallback_from = self._fallback_from or current[0].name
            current = following

    def _try(self, provider: Provider, model: str) -> Generator[str, None, ProviderError | None]:
        """One provider's answer, from the cache or streamed; the error when it failed before any text."""
        try:
            request = build_request(self.setup, provider, model)
            prompt_tokens = count_prompt(provider, [request.system, *(m.content for m in request.messages)])
            hold = self._take_hold(provider, model, prompt_tokens)
        except (ValidationError, RateLimited) as exc:  # RateLimited: a fallback would overrun a budget, not asked
            kind = "rate_limited" if isinstance(exc, RateLimited) else "invalid_request"
            self._finish(MessageStatus.error, provider, model, error=exc.user_message, kind=kind, record=False)
            return None
        attempt = self._attempt = _Attempt(provider, model, self.deps.clock(), prompt_tokens, hold)
        key = self._cache_key(provider, request)
        cached = self.deps.cache.get(key) if key and self.setup.use_cache else None
        try:
            if cached is not None:
                yield from self._replay(cached)
            else:
                yield from self._stream(request, key)
        except ProviderError as exc:
            if attempt.parts:  # part of the reply was shown: keep it, mark it
                self._finish(MessageStatus.interrupted, provider, model, error=exc.user_message, kind=exc.kind)
                return None
            self._record_failed(attempt, exc)
            return exc
        return None

    def _replay(self, cached: CachedReply) -> Iterator[str]:
        attempt = self._attempt
        assert attempt is not None
        attempt.first_token = self.deps.clock()
        attempt.parts.append(cached.text)
        yield cached.text
        self._finish(MessageStatus.complete, attempt.provider, cached.model, usage=Usage(0, 0), cache_hit=True)

    def _stream(self, request: ChatRequest, key: str | None) -> Iterator[str]:
        attempt = self._attempt
        assert attempt is not None
        self._open_reply(attempt)
        stream = attempt.provider.stream(request)
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    if attempt.first_token is None:
                        attempt.first_token = self.deps.clock()
                    attempt.parts.append(event.text)
                    self._flush(attempt)
                    yield event.text
                elif isinstance(event, Finished):
                    self._finish(MessageStatus.complete, attempt.provider, event.model, usage=event.usage,
                                 stop_reason=event.stop_reason)
                    if key:
                        self.deps.cache.put(key, CachedReply("".join(attempt.parts), event.model,
                                                             event.usage.tokens_in, event.usage.tokens_out))
                    return
            raise ProviderUnavailable(Msg("providers.unfinished", provider=attempt.provider.label))
        finally:
            stream.close()  # on stop, the provider stops generating / closes its connection

    def _open_reply(self, attempt: _Attempt) -> None:  # its `streaming` row; a fallback attempt keeps it
        if self.conversation_id is not None and self._reply_id is None:
            self._reply_id = live.open_reply(self.deps.engine, self.deps.settings, self.conversation_id,
                                             attempt.provider.name, attempt.model)
            self._flushed = self.deps.clock()

    def _flush(self, attempt: _Attempt) -> None:
        now = self.deps.clock()
        if self._reply_id is not None and now - self._flushed >= self.deps.settings.chat.stream_flush_seconds:
            live.flush(self.deps.engine, self._reply_id, "".join(attempt.parts))
            self._flushed = now

    def _take_hold(self, provider: Provider, model: str, prompt_tokens: int) -> Hold | None:
        """The manager's hold for the first attempt; a fallback attempt holds its own worst case."""
        if self._hold is not None or self._attempt is None:
            hold, self._hold = self._hold, None
            return hold
        limits, exempt = self.setup.reserved.limits
        return self.deps.budgets.reserve(user_id=self.setup.user_id, limits=limits, exempt=exempt,
                                         provider=provider.name, model=model, prompt_tokens=prompt_tokens,
                                         max_tokens=self.setup.options.max_tokens, team=self.setup.reserved.team)

    def _cache_key(self, provider: Provider, request: ChatRequest) -> str | None:
        # Only the chosen provider's answer is cached: a fallback reply should not stick.
        if self._fallback_from is None and self.deps.cache.applies(request):
            return cache_key(self.setup.user_id, provider.name, request)
        return None

    def _record_failed(self, attempt: _Attempt, exc: ProviderError) -> None:
        with session_scope(self.deps.engine) as session:
            event = record_usage(session=session, user_id=self.setup.user_id, conversation_id=self.conversation_id,
                         provider=attempt.provider.name, model=attempt.model, usage=Usage(0, 0),
                         status=UsageStatus.error, error_kind=exc.kind, ttft_ms=None,
                         total_ms=(self.deps.clock() - attempt.started) * 1000, settings=self.deps.settings,
                         source=self.setup.source, token_name=self.setup.token_name, team_id=self._team_id())
            self._settle(session, attempt, event)

    def _team_id(self) -> int | None:
        return self.setup.reserved.team.id if self.setup.reserved.team is not None else None

    def _settle(self, session: Session, attempt: _Attempt, event: UsageEvent) -> None:
        self.deps.budgets.settle(session, attempt.hold, event)
        attempt.settled = True

    def _finish(self, status: MessageStatus, provider: Provider, model: str, *, usage: Usage | None = None,
                error: str | None = None, kind: str | None = None, record: bool = True,
                cache_hit: bool = False, stop_reason: str | None = None) -> None:
        """Store the reply with its status (partial text kept) and, for a provider call, its usage."""
        attempt, now = self._attempt, self.deps.clock()
        text = "".join(attempt.parts) if attempt else ""
        if usage is None and attempt is not None:  # stopped or failed: count what was sent and produced
            usage = Usage(attempt.prompt_tokens, provider.count_tokens(text) if text else 0, estimated=True)
        with session_scope(self.deps.engine) as session:
            message_id = self._store(session, status, text, provider, model, usage, error)
            if record and attempt is not None and usage is not None:
                self._record(session, attempt, provider, usage, status, kind, cache_hit, now)
            self.outcome = TurnOutcome(status, text, provider.name, model, self._fallback_from, error, message_id,
                                       kind, stop_reason, usage if record and attempt is not None else None)

    def _store(self, session: Session, status: MessageStatus, text: str, provider: Provider, model: str,
               usage: Usage | None, error: str | None) -> int | None:
        """The reply as a message of its conversation (when there is one); its id."""
        if self.conversation_id is None:
            return None
        message = Message(conversation_id=self.conversation_id, role=MessageRole.assistant, content=text,
                          status=status, provider=provider.name, model=model, fallback_from=self._fallback_from,
                          error=error, tokens_in=usage.tokens_in if usage else None,
                          tokens_out=usage.tokens_out if usage else None)
        reply_id = live.store_reply(session, self._reply_id, message)
        store_sources(session, reply_id, self.setup.sources)  # the numbered sources its [n] citations point at
        return reply_id

    def _record(self, session: Session, attempt: _Attempt, provider: Provider, usage: Usage,
                status: MessageStatus, kind: str | None, cache_hit: bool, now: float) -> None:
        # Priced and counted as the catalog model the turn asked for: providers report dated names
        # ("gpt-4o-mini-2024-07-18") that are in no price table, and a model must never be free by accident.
        event = record_usage(
                     session=session, user_id=self.setup.user_id, conversation_id=self.conversation_id,
                     provider=provider.name, model=attempt.model, usage=usage, status=UsageStatus(status),
                     error_kind=kind, cache_hit=cache_hit, source=self.setup.source, token_name=self.setup.token_name,
                     team_id=self._team_id(),
                     ttft_ms=(attempt.first_token - attempt.started) * 1000 if attempt.first_token else None,
                     total_ms=(now - attempt.started) * 1000, settings=self.deps.settings)
        self._settle(session, attempt, event)

