"""Feedback in Monitoring and the usage CSV: counts and 👍 rate by provider and model over a range, the latest
comments, who may see what; on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT
from core.db import get_engine
from core.errors import PermissionDenied
from core.history import delete
from core.models import Conversation, Feedback, Message, UsageEvent, User, utcnow
from core.usage import UsageFilter, events_csv, feedback_stats
from tests.conftest import add_user

DAY = datetime(2026, 11, 23, tzinfo=UTC)
RANGE = UsageFilter(start=DAY, end=DAY + timedelta(days=1))


def within(**kw: object) -> UsageFilter:
    return UsageFilter(RANGE.start, RANGE.end, **kw)  # type: ignore[arg-type]


@pytest.fixture
def rated(engine, session: Session) -> dict[str, int]:
    """Replies of three users on two providers, rated at known times; each reply written by one usage event."""
    ids = {"admin": session.exec(select(User.id).where(User.username == "admin")).one(),
           "alice": add_user(session, "alice"), "bob": add_user(session, "bob")}
    convs: dict[str, int] = {}
    for owner in ("admin", "alice", "bob"):
        conv = Conversation(user_id=ids[owner], title=owner, provider="openai", model="gpt-4o")
        session.add(conv)
        session.flush()
        convs[owner] = ids[f"conv_{owner}"] = conv.id or 0

    def reply(name: str, owner: str, provider: str, model: str, rating: int | None, hour: int, comment: str = "",
              source: str = "ui") -> None:
        message = Message(conversation_id=convs[owner], role="assistant", content=name, provider=provider, model=model)
        session.add(message)
        session.flush()
        ids[name] = message.id or 0
        session.add(UsageEvent(user_id=ids[owner], conversation_id=convs[owner], message_id=message.id,
                               provider=provider, model=model, status="complete", source=source,
                               created_at=DAY + timedelta(hours=hour)))
        if rating is not None:
            when = DAY + timedelta(hours=hour, minutes=5)
            session.add(Feedback(message_id=message.id or 0, user_id=ids[owner], rating=rating, comment=comment,
                                 created_at=when, updated_at=when))

    reply("a1", "alice", "openai", "gpt-4o", 1, 9, "Spot on")
    reply("a2", "alice", "openai", "gpt-4o", -1, 10, "=HYPERLINK(\"http://x\")")
    reply("a3", "alice", "anthropic", "claude", 1, 11)
    reply("b1", "bob", "openai", "gpt-4o", 1, 12, "Thanks", source="api")
    reply("b2", "bob", "anthropic", "claude", -1, 13, "Too long")
    reply("m1", "admin", "openai", "gpt-4o", 1, 14, "Mine")
    reply("old", "alice", "openai", "gpt-4o", -1, -5, "Yesterday")  # before the range
    reply("unrated", "alice", "openai", "gpt-4o", None, 15)
    session.commit()
    return ids


def test_counts_and_rate_by_provider_and_model_over_the_range(rated, session) -> None:
    stats = feedback_stats(session=session, actor_id=rated["admin"], filters=RANGE)
    assert [(m.provider, m.model, m.up, m.down) for m in stats.by_model] == [
        ("openai", "gpt-4o", 3, 1), ("anthropic", "claude", 1, 1)]  # most rated first
    assert stats.by_model[0].up_rate == 0.75 and stats.by_model[1].up_rate == 0.5
    assert (stats.up, stats.down) == (4, 2) and stats.up_rate == pytest.approx(4 / 6)
    wider = UsageFilter(start=DAY - timedelta(days=1), end=DAY + timedelta(days=1))
    assert feedback_stats(session=session, actor_id=rated["admin"], filters=wider).down == 3


def test_filters_narrow_the_feedback_like_the_usage(rated, session) -> None:
    admin = rated["admin"]
    claude = feedback_stats(session=session, actor_id=admin, filters=within(model="claude"))
    assert [(m.model, m.up, m.down) for m in claude.by_model] == [("claude", 1, 1)]
    bobs = feedback_stats(session=session, actor_id=admin, filters=within(user_id=rated["bob"]))
    assert (bobs.up, bobs.down) == (1, 1)
    api = feedback_stats(session=session, actor_id=admin, filters=within(source="api"))
    assert [c.comment for c in api.comments] == ["Thanks"]
    assert feedback_stats(session=session, actor_id=admin, filters=within(team_id=0)).up == 4  # no team


def test_latest_comments_newest_first_linking_only_the_viewers_own_conversations(rated, session) -> None:
    stats = feedback_stats(session=session, actor_id=rated["admin"], filters=RANGE, comments=4)
    assert [(c.user, c.comment) for c in stats.comments] == [
        ("admin", "Mine"), ("bob", "Too long"), ("bob", "Thanks"), ("alice", '=HYPERLINK("http://x")')]
    assert [c.conversation_id for c in stats.comments] == [rated["conv_admin"], None, None, None]
    assert stats.comments[1].rating == -1 and stats.comments[1].model == "claude"
    assert stats.comments[0].when == DAY + timedelta(hours=14, minutes=5)


def test_a_user_sees_only_their_own_feedback(rated, session) -> None:
    alice = rated["alice"]
    with pytest.raises(PermissionDenied):
        feedback_stats(session=session, actor_id=alice, filters=RANGE)
    with pytest.raises(PermissionDenied):
        feedback_stats(session=session, actor_id=alice, filters=within(user_id=rated["bob"]))
    mine = feedback_stats(session=session, actor_id=alice, filters=within(user_id=alice))
    assert (mine.up, mine.down) == (2, 1)
    assert {c.conversation_id for c in mine.comments} == {rated["conv_alice"]}  # her own: links


def test_feedback_in_a_deleted_conversation_leaves_the_views_at_once(rated, session) -> None:
    delete(session=session, user_id=rated["bob"], conversation_ids=[rated["conv_bob"]])
    stats = feedback_stats(session=session, actor_id=rated["admin"], filters=RANGE)
    assert (stats.up, stats.down) == (3, 1)
    assert "bob" not in {c.user for c in stats.comments}
    rows = list(csv.DictReader(io.StringIO(events_csv(session=session, actor_id=rated["admin"],
                                                      filters=within(user_id=rated["bob"])))))
    assert [(r["feedback"], r["feedback_comment"]) for r in rows] == [("", ""), ("", "")]


def test_the_usage_csv_carries_each_replys_feedback_at_the_end(rated, session) -> None:
    text = events_csv(session=session, actor_id=rated["alice"], filters=within(user_id=rated["alice"]))
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["created_at", "user", "source", "api_token", "provider", "model", "status", "error_kind",
                      "cache_hit", "tokens_in", "tokens_out", "cost_usd", "ttft_ms", "total_ms", "conversation_id",
                      "feedback", "feedback_comment"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["feedback"], r["feedback_comment"]) for r in rows] == [
        ("", ""), ("up", ""), ("down", "'=HYPERLINK(\"http://x\")"), ("up", "Spot on")]  # newest first


def test_monitoring_page_shows_the_feedback_panel(sqlite_app) -> None:
    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        conv = Conversation(user_id=admin, title="t", provider="openai", model="gpt-4o")
        session.add(conv)
        session.flush()
        conv_id = conv.id or 0
        for rating, comment in ((1, "Great"), (-1, "")):
            message = Message(conversation_id=conv_id, role="assistant", content="r", provider="openai",
                              model="gpt-4o")
            session.add(message)
            session.flush()
            session.add(Feedback(message_id=message.id or 0, user_id=admin, rating=rating, comment=comment))
        session.commit()
    at = AppTest.from_file(str(PROJECT_ROOT / "pages/monitoring.py"), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "admin"
    at.session_state["parley_login_at"] = utcnow()
    at.run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["👍 Good"], metrics["👎 Bad"], metrics["👍 rate"]) == ("1", "1", "50%")
    comments = at.dataframe[2].value  # top users, feedback by model, the comments, the audit log
    assert list(comments["comment"]) == ["Great"] and list(comments["open"]) == [f"chat?c={conv_id}"]
