"""Export format 2 keeps the whole tree (versions, the branch shown, stop reasons, feedback, sources) through an
export and an import; version 1 files import as one branch; a broken tree is refused whole; ChatGPT exports keep
every branch. On SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from core.chat import ConversationManager
from core.errors import ValidationError
from core.history import (
    export_json,
    export_markdown,
    feedback_for,
    give_feedback,
    import_conversations,
    read_thread,
    show_version,
)
from core.models import Conversation, Feedback, Message, MessageSource
from tests.chat import test_manager as base
from tests.conftest import add_user
from tests.fakes.fake_provider import FakeProvider

# The manager on fake providers, as in tests/chat/test_manager.
OPTS, providers, settings, manager, user_id = base.OPTS, base.providers, base.settings, base.manager, base.user_id
MB = 1_000_000
CHATGPT_BRANCHED = Path(__file__).parent / "fixtures" / "chatgpt_branched.json"


def _run(turn) -> int:  # type: ignore[no-untyped-def]
    "".join(turn.deltas())
    return turn.close().message_id or 0


def _import(session: Session, user: int, doc: Any) -> int:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return import_conversations(session=session, user_id=user, raw=raw, max_bytes=MB)


def _only_conversation(session: Session, user: int) -> int:
    return session.exec(select(Conversation.id).where(Conversation.user_id == user)).one() or 0


def _shown(session: Session, user: int, conv: int) -> list[str]:
    session.expire_all()
    return [m.content for m in read_thread(session=session, user_id=user, conversation_id=conv).messages]


def _branched(manager: ConversationManager, fake: FakeProvider, session: Session, user: int) -> dict[str, int]:
    """Through the chat: a reply regenerated twice, a follow-up cut at the token limit, the first question edited
    (a second branch), feedback on two replies, sources on one; the original branch is shown again."""
    fake.enqueue(["a1 v1"]).enqueue(["a1 v2"]).enqueue(["a1 v3"]).enqueue(["a2 cut"], stop_reason="length")
    fake.enqueue(["b1"])
    turn = manager.send(user_id=user, conversation_id=None, text="q1", options=OPTS)
    _run(turn)
    conv = turn.conversation_id or 0
    _run(manager.regenerate(user_id=user, conversation_id=conv, options=OPTS))
    _run(manager.regenerate(user_id=user, conversation_id=conv, options=OPTS))
    cut = _run(manager.send(user_id=user, conversation_id=conv, text="q2", options=OPTS))
    q1 = read_thread(session=session, user_id=user, conversation_id=conv).messages[0].id
    b1 = _run(manager.edit(user_id=user, conversation_id=conv, message_id=q1, text="q1 edited", options=OPTS))
    give_feedback(session=session, user_id=user, message_id=cut, rating=-1, comment="Cut short.")
    give_feedback(session=session, user_id=user, message_id=b1, rating=1)
    # Sources as a knowledge turn stores them (that path is tests/chat/test_knowledge_turn's).
    session.add_all([MessageSource(message_id=cut, n=1, document_name="guide.pdf", page=3, snippet="Chapter one"),
                     MessageSource(message_id=cut, n=2, document_name="notes.md", section="Intro", snippet="Hi")])
    session.commit()
    show_version(session=session, user_id=user, conversation_id=conv, message_id=q1)
    return {"conv": conv, "q1": q1, "cut": cut, "b1": b1}


def test_a_branched_conversation_exported_and_imported_for_another_user_is_the_same(
        manager: ConversationManager, providers: dict[str, FakeProvider], session: Session, user_id: int) -> None:
    made = _branched(manager, providers["primary"], session, user_id)
    assert _shown(session, user_id, made["conv"]) == ["q1", "a1 v3", "q2", "a2 cut"]  # not the newest branch
    exported = export_json(session=session, user_id=user_id)
    doc = json.loads(exported)
    [conv] = doc["conversations"]
    assert doc["version"] == 2 and conv["leaf"] == 6
    assert [(m["id"], m["parent"], m["content"]) for m in conv["messages"]] == [
        (1, None, "q1"), (2, 1, "a1 v1"), (3, 1, "a1 v2"), (4, 1, "a1 v3"), (5, 4, "q2"), (6, 5, "a2 cut"),
        (7, None, "q1 edited"), (8, 7, "b1")]
    assert conv["messages"][5]["stop_reason"] == "length"
    assert conv["messages"][5]["feedback"] == {"rating": -1, "comment": "Cut short."}
    assert [s["document"] for s in conv["messages"][5]["sources"]] == ["guide.pdf", "notes.md"]

    bob = add_user(session, "bob")
    assert _import(session, bob, exported.encode()) == 1
    again = json.loads(export_json(session=session, user_id=bob))
    assert again["conversations"] == doc["conversations"]  # same tree, branch, versions, feedback, sources...

    mine = read_thread(session=session, user_id=user_id, conversation_id=made["conv"])
    copied = _only_conversation(session, bob)
    theirs = read_thread(session=session, user_id=bob, conversation_id=copied)
    assert [m.content for m in theirs.messages] == [m.content for m in mine.messages]
    assert [(v.n, v.total) for v in theirs.versions.values()] == [(v.n, v.total) for v in mine.versions.values()]
    assert [m.stop_reason for m in theirs.messages] == [None, None, None, "length"]
    rated = feedback_for(session=session, user_id=bob, message_ids=[m.id for m in theirs.messages])
    assert [(r.rating, r.comment) for r in rated.values()] == [(-1, "Cut short.")]
    stored = session.exec(select(Feedback).join(Message, col(Message.id) == Feedback.message_id)
                          .where(Message.conversation_id == copied)).all()
    assert sorted((f.user_id, f.rating) for f in stored) == [(bob, -1), (bob, 1)]  # the importer's ratings now
    show_version(session=session, user_id=bob, conversation_id=copied, message_id=theirs.versions[
        theirs.messages[0].id].siblings[1])
    assert _shown(session, bob, copied) == ["q1 edited", "b1"]


def test_markdown_is_the_branch_shown(
        manager: ConversationManager, providers: dict[str, FakeProvider], session: Session, user_id: int) -> None:
    _branched(manager, providers["primary"], session, user_id)
    md = export_markdown(session=session, user_id=user_id)
    assert "a1 v3" in md and "a2 cut" in md and "[1] guide.pdf, p. 3" in md
    assert "a1 v1" not in md and "q1 edited" not in md and "other versions are in the JSON export" in md


def _v1(*contents: str) -> dict[str, Any]:
    return {"schema": "parley.export", "version": 1, "conversations": [{"title": "old", "messages": [
        {"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)]}]}


def test_a_version_1_file_imports_as_one_branch_shown_to_its_end(session: Session) -> None:
    alice = add_user(session, "alice")
    assert _import(session, alice, _v1("q", "a", "q2", "a2")) == 1
    conv = _only_conversation(session, alice)
    rows = list(session.exec(select(Message).where(Message.conversation_id == conv).order_by(col(Message.id))))
    assert [r.parent_id for r in rows] == [None, rows[0].id, rows[1].id, rows[2].id]
    assert session.get(Conversation, conv).leaf_id == rows[-1].id  # type: ignore[union-attr]
    [exported] = json.loads(export_json(session=session, user_id=alice))["conversations"]
    assert [(m["id"], m["parent"]) for m in exported["messages"]] == [(1, None), (2, 1), (3, 2), (4, 3)]
    assert exported["leaf"] == 4


def _v2(*messages: dict[str, Any], leaf: int | None = None) -> dict[str, Any]:
    good = {"title": "fine", "messages": [{"id": 1, "role": "user", "content": "hello"}]}
    broken = {"title": "broken", "leaf": leaf, "messages": [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}", **m} for i, m in enumerate(messages)]}
    return {"schema": "parley.export", "version": 2, "conversations": [good, broken]}


@pytest.mark.parametrize("doc,message", [
    (_v2({"id": 1, "parent": 2}, {"id": 2, "parent": 1}), "Conversation 2, message 1: its parent 2 is not an earlier"),
    (_v2({"id": 1, "parent": 1}), "message 1: its parent 1 is not an earlier"),
    (_v2({"id": 1}, {"id": 2, "parent": 9}), "message 2: its parent 9 is not an earlier"),
    (_v2({"id": 1}, {"id": 1, "parent": 1}), "message 2: every message needs an id of its own"),
    (_v2({"id": 1}, {"parent": 1}), "message 2: every message needs an id of its own"),
    (_v2({}, {"parent": 1}), "message 2: its parent 1 is not an earlier"),  # no ids: one branch, no parents
    (_v2({"id": 1}, {"id": 2, "parent": 1}, leaf=3), "Conversation 2: the branch shown ends at 3"),
    (_v2({"id": 0}), "conversations.1.messages.0.id"),
    (_v2({"id": 1}, {"id": 2, "parent": 1, "stop_reason": "tired"}), "stop_reason"),
    (_v2({"id": 1}, {"id": 2, "parent": 1, "feedback": {"rating": 5}}), "feedback.rating"),
])
def test_a_broken_tree_is_refused_and_nothing_is_stored(session: Session, doc: dict[str, Any], message: str) -> None:
    alice = add_user(session, "alice")
    with pytest.raises(ValidationError, match=message):
        _import(session, alice, doc)
    assert not session.exec(select(Conversation).where(Conversation.user_id == alice)).all()


def test_a_questions_rating_in_a_file_is_dropped(session: Session) -> None:
    alice = add_user(session, "alice")
    doc = _v2({"id": 1, "feedback": {"rating": 1}}, {"id": 2, "parent": 1, "feedback": {"rating": 1, "comment": "ok"}})
    assert _import(session, alice, doc) == 2
    assert [(f.user_id, f.rating, f.comment) for f in session.exec(select(Feedback))] == [(alice, 1, "ok")]


def test_a_branched_chatgpt_export_keeps_every_version(session: Session) -> None:
    alice = add_user(session, "alice")
    assert _import(session, alice, CHATGPT_BRANCHED.read_bytes()) == 1
    conv = _only_conversation(session, alice)
    stored = [m.content for m in session.exec(select(Message).where(Message.conversation_id == conv))]
    assert len(stored) == 7  # the system, tool and tool-call nodes are left out
    assert _shown(session, alice, conv) == [
        "Plan two days in Busan for me.", "Day 1: Haeundae and Dongbaekseom. Day 2: Gamcheon village.",
        "What about seafood markets?", "Go to Jagalchi early, then Gijang for crab."]
    thread = read_thread(session=session, user_id=alice, conversation_id=conv)
    edited, regenerated = thread.messages[2].id, thread.messages[3].id
    assert (thread.versions[edited].n, thread.versions[edited].total) == (2, 2)  # the edited question
    assert (thread.versions[regenerated].n, thread.versions[regenerated].total) == (2, 2)  # the regenerated reply
    assert session.get(Conversation, conv).model == "gpt-4o"  # type: ignore[union-attr]

    show_version(session=session, user_id=alice, conversation_id=conv, message_id=thread.versions[edited].siblings[0])
    assert _shown(session, alice, conv)[2:] == ["What about food?", "Try dwaeji gukbap near Seomyeon."]
    # The reply written after the browsing call hangs on the question: the skipped nodes' child is re-parented.
    show_version(session=session, user_id=alice, conversation_id=conv,
                 message_id=thread.versions[regenerated].siblings[0])
    assert _shown(session, alice, conv)[2:] == ["What about seafood markets?", "Jagalchi Market is the place."]


def test_chatgpts_current_node_on_a_skipped_node_shows_its_nearest_message(session: Session) -> None:
    alice = add_user(session, "alice")
    doc = json.loads(CHATGPT_BRANCHED.read_text())
    doc[0]["current_node"] = "tool"
    _import(session, alice, doc)
    conv = _only_conversation(session, alice)
    assert _shown(session, alice, conv)[-1] == "What about seafood markets?"


def test_a_chatgpt_loop_off_the_current_branch_is_refused(session: Session) -> None:
    alice = add_user(session, "alice")
    doc = json.loads(CHATGPT_BRANCHED.read_text())
    looped = copy.deepcopy(doc[0]["mapping"]["a2a"])
    doc[0]["mapping"]["a2a"]["parent"], looped["parent"] = "loop", "a2a"
    doc[0]["mapping"]["loop"] = looped
    with pytest.raises(ValidationError, match="loops back on itself"):
        _import(session, alice, doc)
    assert not session.exec(select(Conversation).where(Conversation.user_id == alice)).all()
