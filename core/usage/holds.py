"""A budget hold: the amounts a call holds against each budget (its parts), and what the call is."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Part:
    """One budget a call is held against: its counter, the amount held and the budget's limit."""

    scope: str  # "user:7:usd", "user:7:tokens"
    period: str  # "2026-11" or "2026-11-29" (UTC)
    amount: int
    limit: int


@dataclass(frozen=True)
class CallInfo:
    """What a held call is, so that it can be charged if its process dies before settling it."""

    provider: str
    model: str
    source: str  # ui | api
    token_name: str | None
    team_id: int | None
    prompt_tokens: int  # the most input tokens it can be billed (what was held)
    max_tokens: int
    kind: str = "chat"  # chat | embedding


@dataclass(frozen=True)
class Hold:
    id: str
    user_id: int
    parts: tuple[Part, ...]
    call: CallInfo | None = None  # None: a hold from before holds carried it (released, never charged)


@dataclass(frozen=True)
class Over:
    """The first budget a reservation would overrun, and where it stands (settled, held by others)."""

    part: Part
    used: int
    held: int


def new_hold(user_id: int, parts: Sequence[Part], call: CallInfo | None = None) -> Hold:
    return Hold(uuid.uuid4().hex, user_id, tuple(sorted(parts, key=lambda p: (p.scope, p.period))), call)


def dump_parts(hold: Hold) -> dict[str, Any]:
    """A hold's parts and call, as JSON-ready values (both ledgers store this)."""
    call = hold.call
    return {"parts": [[p.scope, p.period, p.amount, p.limit] for p in hold.parts],
            "call": None if call is None else [call.provider, call.model, call.source, call.token_name, call.team_id,
                                               call.prompt_tokens, call.max_tokens, call.kind]}


def load_parts(hold_id: str, user_id: int, stored: Any) -> Hold:
    """The hold stored by dump_parts (or, from before holds carried their call, a bare list of parts)."""
    parts, call = (stored["parts"], stored.get("call")) if isinstance(stored, dict) else (stored, None)
    return Hold(hold_id, user_id, tuple(Part(s, p, int(a), int(lim)) for s, p, a, lim in parts),
                None if call is None else CallInfo(*call))
