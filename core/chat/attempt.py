"""One provider call of a turn (the first, or a fallback): what it asked and produced, its reply row while it
streams, and its usage event (settling its budget hold) once it is over."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from core.chat import live
from core.chat.options import TurnDeps, TurnSetup
from core.db import session_scope
from core.db_writes import write_retrying
from core.errors import ProviderError, ValidationError
from core.i18n import Msg
from core.logging import log_event
from core.models import Message, MessageStatus, UsageStatus
from core.providers.base import Provider, ToolCall, Usage
from core.usage import Hold, record_usage

logger = logging.getLogger(__name__)


@dataclass
class Attempt:
    provider: Provider
    model: str
    started: float
    prompt_tokens: int = 0  # estimated, for a usage record the provider gives no numbers for
    hold: Hold | None = None  # its budget hold, settled with its usage event
    settled: bool = False
    first_token: float | None = None
    parts: list[str] = field(default_factory=list)
    tool_calls: tuple[ToolCall, ...] = ()  # what the model asked the API's client to run


def added_usage(earlier: Message, usage: Usage | None) -> Usage | None:
    """A continued reply's tokens: what its calls produced together (the prompt: the last call's)."""
    if usage is None:
        return None
    return Usage(usage.tokens_in, (earlier.tokens_out or 0) + usage.tokens_out)


def team_id(setup: TurnSetup) -> int | None:
    return setup.reserved.team.id if setup.reserved.team is not None else None


def record_attempt(session: Session, deps: TurnDeps, setup: TurnSetup, conversation_id: int | None,
                   attempt: Attempt, usage: Usage, status: MessageStatus | UsageStatus, kind: str | None,
                   *, cache_hit: bool = False, now: float | None = None, message_id: int | None = None) -> None:
    """Its usage event, and its hold settled to it, in session's transaction (attempt.settled once it commits)."""
    now = deps.clock() if now is None else now
    # Priced and counted as the catalog model the turn asked for: providers report dated names
    # ("gpt-4o-mini-2024-07-18") that are in no price table, and a model must never be free by accident.
    event = record_usage(
        session=session, user_id=setup.user_id, conversation_id=conversation_id, provider=attempt.provider.name,
        model=attempt.model, usage=usage, status=UsageStatus(status), error_kind=kind, cache_hit=cache_hit,
        source=setup.source, token_name=setup.token_name, team_id=team_id(setup), message_id=message_id,
        ttft_ms=(attempt.first_token - attempt.started) * 1000 if attempt.first_token else None,
        total_ms=(now - attempt.started) * 1000, settings=deps.settings)
    deps.budgets.settle(session, attempt.hold, event)


def record_failed(deps: TurnDeps, setup: TurnSetup, conversation_id: int | None, attempt: Attempt,
                  exc: ProviderError) -> None:
    """A call that failed before any text: recorded with no tokens (its hold released by the settle)."""
    now = deps.clock()

    def write() -> None:
        with session_scope(deps.engine) as session:
            record_attempt(session, deps, setup, conversation_id, attempt, Usage(0, 0), UsageStatus.error,
                           exc.kind, now=now)

    write_retrying(write, "failed attempt")
    attempt.settled = True


class LiveReply:
    """The reply's row while it streams (core.chat.live): opened before the provider is asked, taken over by a
    fallback attempt, its text flushed at most every chat.stream_flush_seconds."""

    def __init__(self, deps: TurnDeps, setup: TurnSetup) -> None:
        self.deps, self.setup = deps, setup
        self.id: int | None = None
        self._flushed = 0.0
        # Continue: the reply's row and its text so far (this turn's text is appended to it).
        continued = next((m for m in reversed(setup.history) if m.id == setup.continues), None)
        self.prefix = continued.content if continued is not None else ""
        self.parent_id = setup.history[-1].id if setup.history and continued is None else None

    def open(self, conversation_id: int | None, attempt: Attempt) -> None:
        if conversation_id is None:
            return
        call = live.LiveCall(attempt.hold.id if attempt.hold else None, attempt.prompt_tokens,
                             self.setup.options.max_tokens, str(self.setup.source), self.setup.token_name,
                             team_id(self.setup), len(self.prefix))
        if self.id is None and self.setup.continues is not None:
            if not live.reopen_reply(self.deps.engine, self.deps.settings, self.setup.continues,
                                     attempt.provider.name, attempt.model, call):
                raise ValidationError(Msg("chat.nothing_to_continue"))  # already going on elsewhere
            self.id = self.setup.continues
            self._flushed = self.deps.clock()
        elif self.id is None:
            self.id = live.open_reply(self.deps.engine, self.deps.settings, conversation_id, attempt.provider.name,
                                      attempt.model, call, self.parent_id)
            self._flushed = self.deps.clock()
        else:
            live.retarget(self.deps.engine, self.id, attempt.provider.name, attempt.model, call)

    def flush(self, parts: list[str]) -> None:
        now = self.deps.clock()
        if self.id is not None and now - self._flushed >= self.deps.settings.chat.stream_flush_seconds:
            self._flushed = now
            try:
                live.flush(self.deps.engine, self.id, self.prefix + "".join(parts))
            except OperationalError:  # the database is busy: the reply streams on, the next flush stores it all
                log_event(logger, "reply flush skipped: database busy", logging.WARNING, reply=self.id)

    def closed(self) -> None:
        live.closed(self.deps.engine, self.id)
