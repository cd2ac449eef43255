"""Feedback on replies: give, change, clear; only one's own finished replies; comments bounded; gone with purge.
On SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from core.errors import NotFound, ValidationError
from core.history import clear_feedback, delete, feedback_for, give_feedback, purge_deleted
from core.history.feedback import COMMENT_MAX
from core.models import Conversation, Feedback, Message, utcnow
from tests.conftest import add_user


@pytest.fixture
def chat(engine, session: Session) -> dict[str, int]:
    """Alice's conversation (question, reply, a reply still streaming) and Bob, who owns nothing of it."""
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    conv = Conversation(user_id=alice, title="t", provider="openai", model="gpt-4o")
    session.add(conv)
    session.flush()
    ids = {"alice": alice, "bob": bob, "conv": conv.id or 0}
    for name, role, status in (("question", "user", "complete"), ("reply", "assistant", "complete"),
                               ("streaming", "assistant", "streaming")):
        message = Message(conversation_id=ids["conv"], role=role, status=status, content=name, provider="openai",
                          model="gpt-4o")
        session.add(message)
        session.flush()
        ids[name] = message.id or 0
    session.commit()
    return ids


def _stored(session: Session) -> list[Feedback]:
    session.expire_all()
    return list(session.exec(select(Feedback)).all())


def test_give_change_and_clear_a_rating(chat, session) -> None:
    alice, reply = chat["alice"], chat["reply"]
    give_feedback(session=session, user_id=alice, message_id=reply, rating=1)
    first = feedback_for(session=session, user_id=alice, message_ids=[reply, chat["question"]])
    assert list(first) == [reply] and first[reply].up and first[reply].comment == ""

    give_feedback(session=session, user_id=alice, message_id=reply, rating=-1, comment="  Wrong\u202e year.\r\n ")
    changed = feedback_for(session=session, user_id=alice, message_ids=[reply])[reply]
    assert (changed.rating, changed.comment) == (-1, "Wrong year.")  # sanitized: bidi override dropped, trimmed
    assert changed.updated_at >= first[reply].updated_at
    assert len(_stored(session)) == 1  # one rating per reply

    assert clear_feedback(session=session, user_id=alice, message_id=reply) is True
    assert feedback_for(session=session, user_id=alice, message_ids=[reply]) == {}
    assert clear_feedback(session=session, user_id=alice, message_id=reply) is False


def test_another_users_reply_is_not_found(chat, session) -> None:
    give_feedback(session=session, user_id=chat["alice"], message_id=chat["reply"], rating=1)
    with pytest.raises(NotFound):
        give_feedback(session=session, user_id=chat["bob"], message_id=chat["reply"], rating=-1)
    with pytest.raises(NotFound):
        clear_feedback(session=session, user_id=chat["bob"], message_id=chat["reply"])
    with pytest.raises(NotFound):
        give_feedback(session=session, user_id=chat["alice"], message_id=999_999, rating=1)
    assert feedback_for(session=session, user_id=chat["bob"], message_ids=[chat["reply"]]) == {}
    assert [f.rating for f in _stored(session)] == [1]


def test_only_a_finished_reply_can_be_rated(chat, session) -> None:
    for message in (chat["question"], chat["streaming"]):
        with pytest.raises(ValidationError):
            give_feedback(session=session, user_id=chat["alice"], message_id=message, rating=1)
    assert _stored(session) == []


@pytest.mark.parametrize("rating", [0, 2, -2, True])
def test_a_rating_is_up_or_down(chat, session, rating) -> None:
    with pytest.raises(ValidationError):
        give_feedback(session=session, user_id=chat["alice"], message_id=chat["reply"], rating=rating)
    assert _stored(session) == []


def test_a_comment_too_long_is_refused_and_nothing_stored(chat, session) -> None:
    give_feedback(session=session, user_id=chat["alice"], message_id=chat["reply"], rating=1, comment="fine")
    with pytest.raises(ValidationError) as info:
        give_feedback(session=session, user_id=chat["alice"], message_id=chat["reply"], rating=-1,
                      comment="x" * (COMMENT_MAX + 1))
    assert str(COMMENT_MAX) in str(info.value.user_message)
    assert [(f.rating, f.comment) for f in _stored(session)] == [(1, "fine")]
    give_feedback(session=session, user_id=chat["alice"], message_id=chat["reply"], rating=-1,
                  comment="y" * COMMENT_MAX)  # the limit itself is fine
    assert len(_stored(session)[0].comment) == COMMENT_MAX


def test_a_deleted_conversation_takes_its_feedback_along_when_purged(chat, session) -> None:
    alice, reply = chat["alice"], chat["reply"]
    give_feedback(session=session, user_id=alice, message_id=reply, rating=1, comment="good")
    delete(session=session, user_id=alice, conversation_ids=[chat["conv"]])
    with pytest.raises(NotFound):  # deleted: like every other read of it
        give_feedback(session=session, user_id=alice, message_id=reply, rating=-1)
    assert purge_deleted(session=session, retention_days=30, now=utcnow() + timedelta(days=31)) == 1
    assert _stored(session) == []
