"""Conversations grouped by when they were last used, as the sidebar shows them: today, yesterday, the 7 days
before, older. Days are calendar days in the reader's time zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DayGroup = Literal["today", "yesterday", "previous_7_days", "older"]
DAY_GROUPS: tuple[DayGroup, ...] = ("today", "yesterday", "previous_7_days", "older")


class Dated(Protocol):
    @property
    def updated_at(self) -> datetime: ...


D = TypeVar("D", bound=Dated)


def time_zone(name: str | None) -> tzinfo:
    """The named IANA time zone; UTC when there is none or the browser sent one this machine does not know."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def day_group(updated_at: datetime, *, now: datetime, tz: tzinfo) -> DayGroup:
    """Which heading a conversation last used at updated_at goes under (a time in the future: today)."""
    stamp = updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=UTC)  # stored times are UTC
    days_ago = (now.astimezone(tz).date() - stamp.astimezone(tz).date()).days
    if days_ago <= 0:
        return "today"
    if days_ago == 1:
        return "yesterday"
    return "previous_7_days" if days_ago <= 7 else "older"


def group_by_day(items: Sequence[D], *, now: datetime, tz: tzinfo) -> list[tuple[DayGroup, list[D]]]:
    """The non-empty groups in display order, each keeping the items' own order."""
    groups: dict[DayGroup, list[D]] = {g: [] for g in DAY_GROUPS}
    for item in items:
        groups[day_group(item.updated_at, now=now, tz=tz)].append(item)
    return [(g, groups[g]) for g in DAY_GROUPS if groups[g]]
