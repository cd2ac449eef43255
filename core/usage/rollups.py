"""Daily views from the rollups: time-to-first-token percentiles interpolated from the day's histogram, errors
by kind."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from core.models import TTFT_EDGES_MS, as_utc
from core.usage.query import DAILY, DAILY_ERRORS, HIST, UsageFilter, daily_where


def histogram_percentile(counts: list[int], percent: int) -> float | None:
    """A percentile interpolated inside the histogram bucket that holds the nearest rank."""
    total = sum(counts)
    if not total:
        return None
    rank = -(-total * percent // 100)
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            low = TTFT_EDGES_MS[i - 1] if i else 0
            if i >= len(TTFT_EDGES_MS):
                return float(low)  # open-ended last bucket: its lower edge
            # the middle of the rank's share of the bucket, assuming values spread evenly inside it
            return low + (TTFT_EDGES_MS[i] - low) * (rank - seen - 0.5) / n
        seen += n
    return None


def percentiles_daily(session: Session, f: UsageFilter) -> tuple[list[dict[str, Any]], list[int]]:
    c = DAILY.c
    stmt = (select(c.day, *(func.sum(c[h]) for h in HIST)).where(daily_where(f, DAILY)).group_by(c.day))
    per_day, overall = [], [0] * len(HIST)
    for day, *counts in session.execute(stmt).all():
        counts = [int(n or 0) for n in counts]
        overall = [a + b for a, b in zip(overall, counts, strict=True)]
        if sum(counts):
            per_day.append({"bucket": as_utc(day), "p50": histogram_percentile(counts, 50),
                            "p95": histogram_percentile(counts, 95)})
    return per_day, overall


def errors_daily(session: Session, f: UsageFilter) -> list[dict[str, Any]]:
    c = DAILY_ERRORS.c
    stmt = (select(c.day, c.kind, func.sum(c.n)).where(daily_where(f, DAILY_ERRORS)).group_by(c.day, c.kind))
    return [{"bucket": as_utc(d), "kind": k, "count": int(n)} for d, k, n in session.execute(stmt).all()]
