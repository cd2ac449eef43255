"""Calls lost with their process (kill -9, a lost machine): each is charged once, marked estimated.

A chat reply's row says what was written before the process died (core.chat.live sweeps it): its call is charged
for its prompt and the text stored, never more output than it could produce. A call with no row (an API request that
is not kept) tells nothing: when its hold expires, it is charged what it held — the most it could have cost.
"""

from __future__ import annotations

from sqlmodel import Session

from core.config import Settings
from core.models import UsageEvent, UsageKind, UsageSource, UsageStatus
from core.providers.base import Usage, estimate_tokens
from core.usage.amounts import spent_by
from core.usage.holds import Hold
from core.usage.record import record_usage

LOST = "lost"  # the usage event's error_kind


def record_as_held(session: Session, settings: Settings, hold: Hold) -> dict[str, int]:
    """A usage event for the worst case the hold covered; what each counter is charged (what the event says)."""
    call = hold.call
    assert call is not None
    event = record_usage(session=session, user_id=hold.user_id, conversation_id=None, provider=call.provider,
                         model=call.model, usage=Usage(call.prompt_tokens, call.max_tokens, estimated=True),
                         status=UsageStatus.interrupted, error_kind=LOST, ttft_ms=None, total_ms=None,
                         source=UsageSource(call.source), settings=settings, token_name=call.token_name,
                         team_id=call.team_id, kind=UsageKind(call.kind))
    event.hold_id = hold.id
    return spent_by(hold, event)


def record_lost_reply(session: Session, settings: Settings, *, user_id: int, conversation_id: int, provider: str,
                      model: str, prompt_tokens: int, text: str, max_tokens: int, source: str = "ui",
                      token_name: str | None = None, team_id: int | None = None) -> UsageEvent:
    """A usage event for a reply whose process died: its prompt and the text stored, estimated."""
    out = min(estimate_tokens(text), max_tokens) if text else 0
    return record_usage(session=session, user_id=user_id, conversation_id=conversation_id, provider=provider,
                        model=model, usage=Usage(prompt_tokens, out, estimated=True), status=UsageStatus.interrupted,
                        error_kind=LOST, ttft_ms=None, total_ms=None, source=UsageSource(source), settings=settings,
                        token_name=token_name, team_id=team_id)
