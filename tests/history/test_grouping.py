"""The sidebar's list below the UI: day groups in the reader's zone, the title filter, undoing a delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from core.history import delete, group_by_day, recent_conversations, restore, time_zone
from core.history.grouping import day_group
from core.models import Conversation, utcnow
from tests.conftest import add_user

NOW = datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
SEOUL = timezone(timedelta(hours=9))


@dataclass
class Item:
    name: str
    updated_at: datetime


@pytest.mark.parametrize(("updated_at", "expected"), [
    (NOW, "today"),
    (datetime(2026, 12, 10, 0, 0, tzinfo=UTC), "today"),
    (NOW + timedelta(hours=3), "today"),  # a clock a little ahead: still today
    (datetime(2026, 12, 9, 23, 59, tzinfo=UTC), "yesterday"),
    (datetime(2026, 12, 9, 0, 0, tzinfo=UTC), "yesterday"),
    (datetime(2026, 12, 8, 23, 59, tzinfo=UTC), "previous_7_days"),
    (datetime(2026, 12, 3, 0, 0, tzinfo=UTC), "previous_7_days"),
    (datetime(2026, 12, 2, 23, 59, tzinfo=UTC), "older"),
    (datetime(2025, 1, 1, tzinfo=UTC), "older"),
    (datetime(2026, 12, 9, 12, 0), "yesterday"),  # a naive time is UTC, as stored
])
def test_day_group_counts_calendar_days_in_utc(updated_at: datetime, expected: str) -> None:
    assert day_group(updated_at, now=NOW, tz=UTC) == expected


def test_day_group_uses_the_readers_time_zone() -> None:
    # 20:00 UTC on the 9th is 05:00 on the 10th in Seoul, where it is 18:30 on the 10th: today there.
    evening = datetime(2026, 12, 9, 20, 0, tzinfo=UTC)
    assert day_group(evening, now=NOW, tz=UTC) == "yesterday"
    assert day_group(evening, now=NOW, tz=SEOUL) == "today"
    assert day_group(evening, now=NOW, tz=time_zone("Asia/Seoul")) == "today"
    # Just after midnight in Seoul, 23:00 there the evening before is yesterday, though the same day in UTC.
    late, midnight = datetime(2026, 12, 10, 14, 0, tzinfo=UTC), datetime(2026, 12, 10, 15, 30, tzinfo=UTC)
    assert day_group(late, now=midnight, tz=UTC) == "today"
    assert day_group(late, now=midnight, tz=SEOUL) == "yesterday"


def test_unknown_or_missing_time_zone_falls_back_to_utc() -> None:
    assert time_zone(None) is UTC
    assert time_zone("") is UTC
    assert time_zone("Mars/Olympus_Mons") is UTC
    assert time_zone("../../etc/passwd") is UTC
    assert str(time_zone("Asia/Seoul")) == "Asia/Seoul"


def test_group_by_day_keeps_order_and_skips_empty_groups() -> None:
    items = [Item("a", NOW), Item("b", NOW - timedelta(hours=2)), Item("c", NOW - timedelta(days=20)),
             Item("d", NOW - timedelta(days=3))]
    groups = group_by_day(items, now=NOW, tz=UTC)
    assert [(g, [i.name for i in members]) for g, members in groups] == [
        ("today", ["a", "b"]), ("previous_7_days", ["d"]), ("older", ["c"])]
    assert group_by_day([], now=NOW, tz=UTC) == []


@pytest.fixture
def owners(session: Session) -> tuple[int, int]:
    return add_user(session, "alice"), add_user(session, "bob")


def _conv(session: Session, user_id: int, title: str, minutes_ago: int = 0) -> int:
    when = utcnow() - timedelta(minutes=minutes_ago)
    conv = Conversation(user_id=user_id, title=title, provider="local", model="m", created_at=when, updated_at=when)
    session.add(conv)
    session.commit()
    return conv.id or 0


def _titles(session: Session, user_id: int, text: str | None, limit: int = 50) -> list[str]:
    return [c.title for c in recent_conversations(session=session, user_id=user_id, limit=limit,
                                                  title_contains=text)]


def test_title_filter_ignores_case_and_matches_wildcards_literally(session: Session,
                                                                    owners: tuple[int, int]) -> None:
    alice, bob = owners
    for i, title in enumerate(["Backup plan", "Database BACKUPS", "100% done", "1000 done", "snake_case",
                               "snakeXcase", "데이터베이스 백업"]):
        _conv(session, alice, title, minutes_ago=i)
    _conv(session, bob, "Bob's backup")
    assert _titles(session, alice, "backup") == ["Backup plan", "Database BACKUPS"]
    assert _titles(session, alice, "  BACKUP ") == ["Backup plan", "Database BACKUPS"]
    assert _titles(session, alice, "0%") == ["100% done"]
    assert _titles(session, alice, "e_c") == ["snake_case"]
    assert _titles(session, alice, "백업") == ["데이터베이스 백업"]
    assert _titles(session, alice, "nothing like it") == []
    assert len(_titles(session, alice, None)) == len(_titles(session, alice, "  ")) == 7
    assert _titles(session, alice, "backup", limit=1) == ["Backup plan"]


def test_restore_brings_back_only_the_owners_deleted_conversations(session: Session,
                                                                    owners: tuple[int, int]) -> None:
    alice, bob = owners
    mine, theirs = _conv(session, alice, "Mine"), _conv(session, bob, "Theirs")
    assert delete(session=session, user_id=alice, conversation_ids=[mine]) == 1
    assert delete(session=session, user_id=bob, conversation_ids=[theirs]) == 1
    assert _titles(session, alice, None) == []

    assert restore(session=session, user_id=alice, conversation_ids=[theirs]) == 0  # not hers
    assert restore(session=session, user_id=alice, conversation_ids=[]) == 0
    assert restore(session=session, user_id=alice, conversation_ids=[mine]) == 1
    assert _titles(session, alice, None) == ["Mine"]
    assert restore(session=session, user_id=alice, conversation_ids=[mine]) == 0  # not deleted any more
    gone = session.exec(select(Conversation).where(Conversation.id == theirs)).one()
    session.refresh(gone)
    assert gone.deleted_at is not None
