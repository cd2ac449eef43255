"""One assistant reply: stream from the chosen provider (cache, fallback), then store it and its usage."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import astuple

from sqlmodel import Session

from core import lifecycle
from core.chat import live
from core.chat.attempt import Attempt, LiveReply, added_usage, record_attempt, record_failed
from core.chat.cache import CachedReply, cache_key
from core.chat.choice import fallback_chain
from core.chat.context import build_request, request_bound, request_texts, stored_text
from core.chat.context import prompt_tokens as count_prompt
from core.chat.options import CallStopped, TurnDeps, TurnOutcome, TurnSetup
from core.chat.sources import store_sources
from core.errors import ProviderError, ProviderUnavailable, RateLimited, ValidationError
from core.i18n import Msg
from core.models import Message, MessageRole, MessageStatus
from core.providers.base import ChatMessage, ChatRequest, Finished, Provider, TextDelta, Usage
from core.usage import Hold, estimated_usage

LENGTH = {"length", "max_tokens"}  # the token limit, as OpenAI and Anthropic say it


class Turn:
    """One assistant reply. Iterate deltas() to stream it; always call close() (in a finally)."""

    def __init__(self, deps: TurnDeps, setup: TurnSetup) -> None:
        self.deps, self.setup = deps, setup
        self.conversation_id = setup.conversation_id
        self.outcome: TurnOutcome | None = None
        self._attempt: Attempt | None = None
        self._fallback_from: str | None = None
        self._gen: Iterator[str] | None = None
        self._hold = setup.reserved.hold  # taken by the manager for the first attempt
        self._counted = True  # in lifecycle's turns in flight until close(): a graceful stop waits for it
        lifecycle.turn_started()
        self._reply = LiveReply(deps, setup)  # the reply's row while it streams

    @property
    def prefix(self) -> str:
        """The reply's text before this turn (Continue), which the new text is appended to; "" for a new reply."""
        return self._reply.prefix

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
                             error=Msg("chat.stopped"), kind="stopped", stop_reason="stopped")
        self._release_unsettled()
        self._reply.closed()
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
                                    self.deps.settings.chat.fallback, team,
                                    self.setup.needs(), options.max_tokens)
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
            prompt_tokens = count_prompt(provider, request_texts(request))  # an estimate, for usage records
            hold = self._take_hold(provider, model, request_bound(request, provider))
        except (ValidationError, RateLimited) as exc:  # RateLimited: a fallback would overrun a budget, not asked
            kind = "rate_limited" if isinstance(exc, RateLimited) else "invalid_request"
            self._finish(MessageStatus.error, provider, model, error=exc.user_message, kind=kind, record=False)
            return None
        attempt = self._attempt = Attempt(provider, model, self.deps.clock(), prompt_tokens, hold)
        key = self._cache_key(provider, request)
        cached = self.deps.cache.get(key) if key and self.setup.use_cache else None
        try:
            if cached is not None:
                yield from self._replay(cached)
            elif self.setup.plain:
                yield from self._generate(request, key)
            else:
                yield from self._stream(request, key)
        except ProviderError as exc:
            if attempt.parts:  # part of the reply was shown: keep it, mark it
                self._finish(MessageStatus.interrupted, provider, model, error=exc.user_message, kind=exc.kind)
                return None
            record_failed(self.deps, self.setup, self.conversation_id, attempt, exc)
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
        self._reply.open(self.conversation_id, attempt)
        stream = attempt.provider.stream(request)
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    if attempt.first_token is None:
                        attempt.first_token = self.deps.clock()
                    attempt.parts.append(event.text)
                    self._reply.flush(attempt.parts)
                    yield event.text
                elif isinstance(event, Finished):
                    attempt.tool_calls = event.tool_calls
                    self._finish(MessageStatus.complete, attempt.provider, event.model, usage=event.usage,
                                 stop_reason=event.stop_reason)
                    if key:
                        self.deps.cache.put(key, CachedReply("".join(attempt.parts), event.model,
                                                             event.usage.tokens_in, event.usage.tokens_out))
                    return
            raise ProviderUnavailable(Msg("providers.unfinished", provider=attempt.provider.label))
        finally:
            stream.close()  # on stop, the provider stops generating / closes its connection

    def _generate(self, request: ChatRequest, key: str | None) -> Iterator[str]:
        """The whole reply in one call (no stream to read): one delta, then the same finish as a stream's."""
        attempt = self._attempt
        assert attempt is not None
        self._reply.open(self.conversation_id, attempt)
        provider, calls = attempt.provider, self.setup.calls
        try:
            result = calls(lambda: provider.agenerate(request)) if calls and provider.has_async \
                else provider.generate(request)
        except CallStopped:  # the client left: nothing came back, the prompt was sent
            self._finish(MessageStatus.interrupted, provider, attempt.model, error=Msg("chat.stopped"), kind="stopped",
                         stop_reason="stopped")
            return
        attempt.first_token = self.deps.clock()
        attempt.parts.append(result.text)
        attempt.tool_calls = result.tool_calls
        self._finish(MessageStatus.complete, provider, result.model, usage=result.usage, stop_reason=result.stop_reason)
        if key:
            self.deps.cache.put(key, CachedReply(result.text, result.model, *astuple(result.usage)[:2]))
        yield result.text

    def _take_hold(self, provider: Provider, model: str, prompt_bound: int) -> Hold | None:
        """The manager's hold for the first attempt; a fallback attempt holds its own worst case."""
        if self._hold is not None or self._attempt is None:
            hold, self._hold = self._hold, None
            return hold
        limits, exempt = self.setup.reserved.limits
        return self.deps.budgets.reserve(user_id=self.setup.user_id, limits=limits, exempt=exempt,
                                         provider=provider.name, model=model, prompt_tokens=prompt_bound,
                                         max_tokens=self.setup.options.max_tokens, team=self.setup.reserved.team,
                                         source=self.setup.source, token_name=self.setup.token_name)

    def _cache_key(self, provider: Provider, request: ChatRequest) -> str | None:
        # Only the chosen provider's answer is cached: a fallback reply should not stick.
        if self._fallback_from is None and self.deps.cache.applies(request):
            return cache_key(self.setup.user_id, provider.name, request)
        return None

    def _finish(self, status: MessageStatus, provider: Provider, model: str, *, usage: Usage | None = None,
                error: str | None = None, kind: str | None = None, record: bool = True,
                cache_hit: bool = False, stop_reason: str | None = None) -> None:
        """Store the reply with its status (partial text kept) and, for a provider call, its usage."""
        attempt, now = self._attempt, self.deps.clock()
        text = "".join(attempt.parts) if attempt else ""
        if usage is None and attempt is not None:  # stopped or failed: count what was sent and produced
            usage = estimated_usage(provider, attempt.prompt_tokens, text, self.setup.options.max_tokens)
        ended = "length" if stop_reason in LENGTH else stop_reason if stop_reason == "stopped" else None

        def write(session: Session) -> tuple[int | None, bool]:  # committed with other turns' (core.db_batch)
            message_id, swept = self._store(session, status, text, provider, model, usage, error, ended)
            if record and attempt is not None and usage is not None and not swept:
                record_attempt(session, self.deps, self.setup, self.conversation_id, attempt, usage, status,
                               kind, cache_hit=cache_hit, now=now, message_id=message_id)
            return message_id, swept

        message_id, swept = self.deps.writes.run(write, "reply")
        if attempt is not None and (swept or (record and usage is not None)):
            attempt.settled = True  # by its usage event, or by the sweep that charged it
        self.outcome = TurnOutcome(status, text, provider.name, model, self._fallback_from, error, message_id,
                                   kind, stop_reason, usage if record and attempt is not None else None,
                                   attempt.tool_calls if attempt else ())

    def _store(self, session: Session, status: MessageStatus, text: str, provider: Provider, model: str,
               usage: Usage | None, error: str | None, ended: str | None) -> tuple[int | None, bool]:
        """The reply as a message of its conversation (when there is one): its id, and whether another instance
        had swept its row meanwhile (then that instance charged the call, and its hold is settled)."""
        if self.conversation_id is None:
            return None, False
        earlier = self._continued()
        if earlier is not None:  # Continue: the new text goes after the old; a failure keeps the way to go on
            text, usage = earlier.content + text, added_usage(earlier, usage)
            ended = ended or (earlier.stop_reason if status == MessageStatus.error else None)
        calls = self._attempt.tool_calls if self._attempt else ()
        message = Message(conversation_id=self.conversation_id, role=MessageRole.assistant, content=stored_text(
                          ChatMessage("assistant", text, calls)),
                          status=status, provider=provider.name, model=model, fallback_from=self._fallback_from,
                          error=error, tokens_in=usage.tokens_in if usage else None,
                          tokens_out=usage.tokens_out if usage else None, stop_reason=ended,
                          parent_id=self._reply.parent_id)
        reply_id = live.store_reply(session, self._reply.id, message)
        if reply_id is None:
            return self._reply.id, True
        if earlier is None:
            store_sources(session, reply_id, self.setup.sources)  # the numbered sources its [n] citations point at
        return reply_id, False

    def _continued(self) -> Message | None:
        """The reply this turn continues, as it was before (None: a new reply)."""
        return next((m for m in reversed(self.setup.history) if m.id == self.setup.continues), None) \
            if self.setup.continues is not None else None

