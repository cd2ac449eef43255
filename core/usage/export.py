"""The filtered usage events as CSV (admins, or a user for their own); the monthly chargeback by team (admins)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from core.accounts import require_admin
from core.models import User, as_utc
from core.usage.dashboard import authorize, team_names
from core.usage.feedback_stats import live_feedback
from core.usage.query import DAILY, EVENT, UsageFilter, event_where

CHARGEBACK_COLUMNS = ["month", "team", "user", "provider", "model", "requests", "tokens_in", "tokens_out", "tokens",
                      "cost_usd"]

CSV_COLUMNS = ["created_at", "user", "source", "api_token", "provider", "model", "status", "error_kind", "cache_hit",
               "tokens_in", "tokens_out", "cost_usd", "ttft_ms", "total_ms", "conversation_id", "feedback",
               "feedback_comment"]
RATINGS = {1: "up", -1: "down"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def events_csv(*, session: Session, actor_id: int, filters: UsageFilter, limit: int = 200_000) -> str:
    """The filtered events as CSV (UTC timestamps), newest first; the last columns rate the reply each wrote."""
    authorize(session, actor_id, filters)
    c = EVENT.c
    fb = live_feedback()  # the rating of the reply the call wrote (none for refusals, errors and old events)
    stmt = (
        select(c.created_at, col(User.username), c.source, c.token_name, c.provider, c.model, c.status, c.error_kind,
               c.cache_hit, c.tokens_in, c.tokens_out, c.cost_usd, c.ttft_ms, c.total_ms, c.conversation_id,
               fb.c.rating, fb.c.comment)
        .join(User, col(User.id) == c.user_id)
        .outerjoin(fb, fb.c.message_id == c.message_id)
        .where(event_where(filters))
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(limit)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in session.execute(stmt):
        rating, comment = row[-2:]
        writer.writerow([as_utc(row[0]).isoformat(), *row[1:-2], RATINGS.get(rating, ""), _cell(comment or "")])
    return out.getvalue()


def _cell(text: str) -> str:
    """A typed text as a spreadsheet shows it: a leading =, +, -, @ would start a formula (CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def chargeback_csv(*, session: Session, actor_id: int, month: date) -> str:
    """One UTC month's usage by team, user and model, from the daily rollups (the same sums as the events)."""
    require_admin(session=session, actor_id=actor_id)
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    c = DAILY.c
    stmt = (
        select(c.team_id, col(User.username), c.provider, c.model, func.sum(c.requests), func.sum(c.tokens_in),
               func.sum(c.tokens_out), func.sum(c.cost_usd))
        .join(User, col(User.id) == c.user_id)
        .where(c.day >= first, c.day < after)
        .group_by(c.team_id, col(User.username), c.provider, c.model)
        .having(func.sum(c.requests) + func.sum(c.refusals) > 0)
    )
    teams = team_names(session)
    rows = sorted(([teams.get(r[0], f"#{r[0]}"), *r[1:]] for r in session.execute(stmt)), key=lambda r: r[:4])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CHARGEBACK_COLUMNS)
    for team, user, provider, model, requests, tokens_in, tokens_out, cost in rows:
        writer.writerow([f"{first:%Y-%m}", team, user, provider, model, requests, tokens_in, tokens_out,
                         tokens_in + tokens_out, f"{cost:.8f}"])
    return out.getvalue()
