"""The filtered usage events as CSV (admins, or a user for their own)."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlmodel import Session, col

from core.models import User, as_utc
from core.usage.dashboard import authorize
from core.usage.query import EVENT, UsageFilter, event_where

CSV_COLUMNS = ["created_at", "user", "source", "api_token", "provider", "model", "status", "error_kind", "cache_hit",
               "tokens_in", "tokens_out", "cost_usd", "ttft_ms", "total_ms", "conversation_id"]


def events_csv(*, session: Session, actor_id: int, filters: UsageFilter, limit: int = 200_000) -> str:
    """The filtered events as CSV (UTC timestamps), newest first."""
    authorize(session, actor_id, filters)
    c = EVENT.c
    stmt = (
        select(c.created_at, col(User.username), c.source, c.token_name, c.provider, c.model, c.status, c.error_kind,
               c.cache_hit, c.tokens_in, c.tokens_out, c.cost_usd, c.ttft_ms, c.total_ms, c.conversation_id)
        .join(User, col(User.id) == c.user_id)
        .where(event_where(filters))
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(limit)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in session.execute(stmt):
        writer.writerow([as_utc(row[0]).isoformat(), *row[1:]])
    return out.getvalue()
