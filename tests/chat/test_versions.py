"""Versions, not overwrites: regenerate and edit add siblings, the branch shown persists and is the context;
Continue goes on with a reply cut at the token limit or stopped; the conversation keeps its knowledge bases."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from core.chat import ConversationManager
from core.history import read_thread, show_version
from core.models import Conversation, Message, UsageEvent
from tests.chat import test_manager as base
from tests.fakes.fake_provider import FakeProvider

# The manager on fake providers, as in test_manager.
OPTS, providers, settings, manager, user_id = base.OPTS, base.providers, base.settings, base.manager, base.user_id


def _run(turn) -> int:  # type: ignore[no-untyped-def]
    "".join(turn.deltas())
    return turn.close().message_id or 0


def _shown(session: Session, user_id: int, conv_id: int) -> list[str]:
    session.expire_all()
    return [m.content for m in read_thread(session=session, user_id=user_id, conversation_id=conv_id).messages]


def test_regenerate_twice_keeps_three_versions_and_the_chosen_one_is_the_context(
        manager: ConversationManager, providers: dict[str, FakeProvider], session: Session, user_id: int) -> None:
    providers["primary"].enqueue(["v1"]).enqueue(["v2"]).enqueue(["v3"]).enqueue(["next"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="q", options=OPTS)
    first = _run(turn)
    conv = turn.conversation_id or 0
    _run(manager.regenerate(user_id=user_id, conversation_id=conv, options=OPTS))
    _run(manager.regenerate(user_id=user_id, conversation_id=conv, options=OPTS))
    thread = read_thread(session=session, user_id=user_id, conversation_id=conv)
    last = thread.messages[-1]
    assert last.content == "v3" and (thread.versions[last.id].n, thread.versions[last.id].total) == (3, 3)

    show_version(session=session, user_id=user_id, conversation_id=conv, message_id=first)
    assert _shown(session, user_id, conv) == ["q", "v1"]  # the choice is stored: a reload shows it too
    session.expire_all()
    assert session.get(Conversation, conv).leaf_id == first  # type: ignore[union-attr]

    _run(manager.send(user_id=user_id, conversation_id=conv, text="and then?", options=OPTS))
    sent = [m.content for m in providers["primary"].history[-1].messages]
    assert sent == ["q", "v1", "and then?"]  # the next message continues from version 1, not from v3
    assert _shown(session, user_id, conv) == ["q", "v1", "and then?", "next"]


def test_editing_an_earlier_message_branches_and_switching_back_restores_what_followed(
        manager: ConversationManager, providers: dict[str, FakeProvider], session: Session, user_id: int) -> None:
    providers["primary"].enqueue(["a1"]).enqueue(["a2"]).enqueue(["b1"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="q1", options=OPTS)
    _run(turn)
    conv = turn.conversation_id or 0
    _run(manager.send(user_id=user_id, conversation_id=conv, text="q2", options=OPTS))
    q1 = read_thread(session=session, user_id=user_id, conversation_id=conv).messages[0]
    _run(manager.edit(user_id=user_id, conversation_id=conv, message_id=q1.id, text="q1 fixed", options=OPTS))
    assert _shown(session, user_id, conv) == ["q1 fixed", "b1"]
    assert [m.content for m in providers["primary"].history[-1].messages] == ["q1 fixed"]
    thread = read_thread(session=session, user_id=user_id, conversation_id=conv)
    assert thread.versions[thread.messages[0].id].n == 2

    show_version(session=session, user_id=user_id, conversation_id=conv, message_id=q1.id)
    assert _shown(session, user_id, conv) == ["q1", "a1", "q2", "a2"]  # the whole earlier branch is back


def test_a_message_of_another_conversation_is_not_a_version_to_show(
        manager: ConversationManager, session: Session, user_id: int) -> None:
    import pytest

    from core.errors import NotFound

    one = manager.send(user_id=user_id, conversation_id=None, text="one", options=OPTS)
    _run(one)
    two = manager.send(user_id=user_id, conversation_id=None, text="two", options=OPTS)
    other = _run(two)
    with pytest.raises(NotFound):
        show_version(session=session, user_id=user_id, conversation_id=one.conversation_id or 0, message_id=other)


def test_continue_appends_to_a_reply_cut_at_the_token_limit_with_one_usage_event_per_call(
        manager: ConversationManager, providers: dict[str, FakeProvider], session: Session, user_id: int) -> None:
    providers["primary"].enqueue(["Roses are red,\n", "violets"], stop_reason="length")
    providers["primary"].enqueue([" are blue."], stop_reason="stop")
    turn = manager.send(user_id=user_id, conversation_id=None, text="poem", options=OPTS)
    reply = _run(turn)
    conv = turn.conversation_id or 0
    session.expire_all()
    assert session.get(Message, reply).stop_reason == "length"  # type: ignore[union-attr]

    more = manager.continue_reply(user_id=user_id, conversation_id=conv, options=OPTS)
    assert more.prefix == "Roses are red,\nviolets"
    assert _run(more) == reply  # the same reply, not a new one
    asked = providers["primary"].history[-1].messages
    assert asked[-1].role == "assistant" and asked[-1].content == "Roses are red,\nviolets"
    session.expire_all()
    stored = session.get(Message, reply)
    assert stored is not None and stored.content == "Roses are red,\nviolets are blue." and stored.stop_reason is None
    assert _shown(session, user_id, conv) == ["poem", "Roses are red,\nviolets are blue."]
    events = session.exec(select(UsageEvent).where(UsageEvent.conversation_id == conv)).all()
    assert len(events) == 2  # one per provider call


def test_a_stopped_reply_can_be_continued_and_a_finished_one_cannot(
        manager: ConversationManager, providers: dict[str, FakeProvider], session: Session, user_id: int) -> None:
    import pytest

    from core.errors import ValidationError

    providers["primary"].enqueue(["one ", "two ", "three"]).enqueue(["four"])
    turn = manager.send(user_id=user_id, conversation_id=None, text="count", options=OPTS)
    deltas = turn.deltas()
    next(deltas)
    reply = turn.close().message_id  # the stop button
    session.expire_all()
    stopped = session.get(Message, reply)
    assert stopped is not None and stopped.stop_reason == "stopped" and stopped.content == "one "
    _run(manager.continue_reply(user_id=user_id, conversation_id=turn.conversation_id or 0, options=OPTS))
    with pytest.raises(ValidationError):  # finished now: nothing to continue
        manager.continue_reply(user_id=user_id, conversation_id=turn.conversation_id or 0, options=OPTS)


def test_the_conversation_keeps_its_knowledge_bases(
        manager: ConversationManager, session: Session, user_id: int) -> None:
    from dataclasses import replace

    from core.history import conversation_knowledge

    turn = manager.send(user_id=user_id, conversation_id=None, text="hi", options=replace(OPTS))
    _run(turn)
    conv = session.get(Conversation, turn.conversation_id)
    assert conv is not None and json.loads(conv.knowledge_bases) == [] and conversation_knowledge(conv) == ()
    conv.knowledge_bases = "[3, 5]"
    assert conversation_knowledge(conv) == (3, 5)
    conv.knowledge_bases = '{"broken": 1}'  # an old import or a hand edit: nothing, not an error
    assert conversation_knowledge(conv) == ()
