"""Usage events and their cost from the price table (config.yaml, overridden by admins)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from core.config import Settings, get_settings
from core.models import UsageEvent, UsageKind, UsageSource, UsageStatus
from core.providers.base import Provider, Usage
from core.usage.prices import price_of
from core.usage.telemetry import observe


def cost_usd(provider: str, model: str, usage: Usage, settings: Settings | None = None,
             engine: Engine | None = None) -> float:
    """Cost of one call: tokens x price per million tokens (cached input at its own price; 0 for models without
    a price)."""
    price = price_of(provider, model, settings or get_settings(), engine)
    return price.cost_usd(usage) if price is not None else 0.0


def record_usage(
    *, session: Session, user_id: int, conversation_id: int | None, provider: str, model: str, usage: Usage,
    status: UsageStatus, error_kind: str | None, ttft_ms: float | None, total_ms: float | None,
    source: UsageSource = UsageSource.ui,
    cache_hit: bool = False, settings: Settings | None = None, token_name: str | None = None,
    team_id: int | None = None, kind: UsageKind = UsageKind.chat, message_id: int | None = None,
) -> UsageEvent:
    """Add one usage event (committed with the turn's other writes)."""
    event = UsageEvent(
        user_id=user_id, conversation_id=conversation_id, message_id=message_id, source=source, provider=provider,
        model=model,
        tokens_in=usage.tokens_in, tokens_out=usage.tokens_out, tokens_cached=usage.cached_in,
        cost_usd=cost_usd(provider, model, usage, settings, session.get_bind().engine), ttft_ms=ttft_ms,
        total_ms=total_ms,
        status=status, error_kind=error_kind, cache_hit=cache_hit, token_name=token_name, estimated=usage.estimated,
        team_id=team_id, kind=kind,
    )
    session.add(event)
    observe(provider=provider, model=model, status=status, tokens_in=usage.tokens_in, tokens_out=usage.tokens_out,
            cost_usd=event.cost_usd, error_kind=error_kind, cache_hit=cache_hit, ttft_ms=ttft_ms, total_ms=total_ms)
    return event


def estimated_usage(provider: Provider, prompt_tokens: int, text: str, max_tokens: int) -> Usage:
    """Usage counted here when the provider reported none (stopped, cut short, lost): never more output than the
    call could produce (max_tokens), so an estimate never goes past what the call's budget hold covers."""
    return Usage(prompt_tokens, min(provider.count_tokens(text), max_tokens) if text else 0, estimated=True)
