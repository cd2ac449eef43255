"""Retention: which backup archives to keep (the newest of each recent day and ISO week) and which to delete."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

NAME = re.compile(r"^parley-backup-(\d{8}T\d{6}Z)\.tar$")


def prune_backups(out_dir: Path, *, keep_daily: int, keep_weekly: int, now: datetime | None = None) -> list[Path]:
    """Keep the newest archive of each of the last keep_daily days and keep_weekly ISO weeks; delete the rest."""
    dated: list[tuple[datetime, Path]] = []
    for path in out_dir.glob("parley-backup-*.tar"):
        match = NAME.match(path.name)
        if match:
            dated.append((datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), path))
    dated.sort(reverse=True)
    today = (now or datetime.now(UTC)).date()
    kept: set[Path] = set()
    days: set[object] = set()
    weeks: set[object] = set()
    for when, path in dated:
        day, week = when.date(), when.isocalendar()[:2]
        if day not in days and today - day < timedelta(days=keep_daily):
            days.add(day)
            kept.add(path)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            kept.add(path)
    removed = [path for _, path in dated if path not in kept]
    for path in removed:
        path.unlink()
    return removed
