"""Amounts of money in budgets: pico-dollars (10^-12 USD), exact for every price (core.usage.prices)."""

from __future__ import annotations

from core.models import UsageEvent
from core.usage.holds import Hold
from core.usage.prices import PICO

LIMIT_MAX = 2**62  # a counter's largest limit (BIGINT): about 4.6 million dollars a month in pico-dollars


def spent_by(hold: Hold, event: UsageEvent) -> dict[str, int]:
    """What a call's usage event charges each of its hold's counters: its tokens, or its cost in pico-dollars."""
    tokens, pico = event.tokens_in + event.tokens_out, round(event.cost_usd * PICO)
    return {p.scope: tokens if p.scope.endswith(":tokens") else pico for p in hold.parts}


def pico_limit(usd: float) -> int:
    """A budget in dollars as a counter's limit."""
    return min(round(usd * PICO), LIMIT_MAX)


def money(*amounts: int) -> list[str]:
    """Pico-dollar amounts as dollars: cents, or as many more decimals as it takes to show each amount within half a
    percent, and to tell different amounts apart ("up to $0.0125; $0.0105 left", never "up to $0.01; $0.01 left")."""
    decimals = {a: _decimals(a) for a in amounts}
    for _ in range(12):
        shown = {a: f"{a / PICO:,.{decimals[a]}f}" for a in decimals}
        clashes = {a for a in shown for b in shown if a != b and shown[a] == shown[b]}
        if not clashes:
            break
        for a in clashes:
            decimals[a] = min(12, decimals[a] + 1)
    return [shown[a] for a in amounts]


def _decimals(pico: int) -> int:
    for decimals in range(2, 12):
        step = PICO // 10**decimals
        if abs(round(pico / step) * step - pico) * 200 <= pico:  # within half a percent
            return decimals
    return 12
