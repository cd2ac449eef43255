"""History: list, full-text search (English and Korean), isolation, index sync, export/import, purge."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from core.errors import NotFound, ValidationError
from core.history import (
    ListFilter,
    delete,
    export_json,
    export_markdown,
    import_conversations,
    list_conversations,
    purge_deleted,
    rename,
    search,
    set_flags,
)
from core.models import Conversation, Message, User, utcnow
from tests.conftest import add_user

MB = 1_000_000


@pytest.fixture
def people(engine, session: Session) -> dict[str, int]:
    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    return {"admin": admin, "alice": add_user(session, "alice"), "bob": add_user(session, "bob")}


def _conv(session: Session, user_id: int, title: str, *texts: str, minutes_ago: int = 0, model: str = "m") -> int:
    when = utcnow() - timedelta(minutes=minutes_ago)
    conv = Conversation(user_id=user_id, title=title, provider="local", model=model, created_at=when,
                        updated_at=when)
    session.add(conv)
    session.flush()
    parent = None
    for i, t in enumerate(texts):  # one branch: each message follows the one before it
        message = Message(conversation_id=conv.id or 0, role="user" if i % 2 == 0 else "assistant", content=t,
                          parent_id=parent)
        session.add(message)
        session.flush()
        parent = message.id
    session.commit()
    return conv.id or 0


@pytest.fixture
def corpus(people, session: Session) -> dict[str, int]:
    a = people["alice"]
    return {
        "db": _conv(session, a, "Backups", "How do I back up the database?",
                    "우리는 매일 밤 데이터베이스를 백업합니다.", minutes_ago=30),
        "poem": _conv(session, a, "A poem", "Write a poem about the sea", "The SEA is wide and blue",
                      minutes_ago=20),
        "deploy": _conv(session, a, "Deploying Parley on Kubernetes", "helm chart please", minutes_ago=10,
                        model="gpt-4o"),
        "bob": _conv(session, people["bob"], "Bob's secrets", "the database password is hunter2"),
    }


def test_list_is_newest_first_with_counts_and_pages(people, corpus, session) -> None:
    page = list_conversations(session=session, user_id=people["alice"], page_size=2)
    assert [r.conversation.title for r in page.rows] == ["Deploying Parley on Kubernetes", "A poem"]
    assert (page.total, page.pages, page.rows[1].messages) == (3, 2, 2)
    second = list_conversations(session=session, user_id=people["alice"], page=2, page_size=2)
    assert [r.conversation.title for r in second.rows] == ["Backups"]


def test_pinned_first_and_filters(people, corpus, session) -> None:
    a = people["alice"]
    set_flags(session=session, user_id=a, conversation_ids=[corpus["db"]], pinned=True)
    assert list_conversations(session=session, user_id=a).rows[0].conversation.id == corpus["db"]
    assert [r.conversation.id for r in list_conversations(
        session=session, user_id=a, filters=ListFilter(pinned_only=True)).rows] == [corpus["db"]]
    assert [r.conversation.model for r in list_conversations(
        session=session, user_id=a, filters=ListFilter(model="gpt-4o")).rows] == ["gpt-4o"]
    since = utcnow() - timedelta(minutes=15)
    assert [r.conversation.id for r in list_conversations(
        session=session, user_id=a, filters=ListFilter(start=since)).rows] == [corpus["deploy"]]
    set_flags(session=session, user_id=a, conversation_ids=[corpus["poem"]], archived=True)
    assert corpus["poem"] not in [r.conversation.id for r in list_conversations(session=session, user_id=a).rows]
    archive = list_conversations(session=session, user_id=a, filters=ListFilter(archived=True))
    assert [r.conversation.id for r in archive.rows] == [corpus["poem"]]


@pytest.mark.parametrize("query,expected", [
    ("database", {"db"}),            # English, inside a longer text
    ("DATABASE", {"db"}),            # case-insensitive
    ("sea", {"poem"}),               # "SEA" and "sea"
    ("데이터", {"db"}),               # Korean substring: 데이터 in 데이터베이스를
    ("데이터베이스", {"db"}),
    ("백업", {"db"}),                 # two characters: below trigram length, still found
    ("kubernetes", {"deploy"}),      # title only
    ("hunter2", set()),              # Bob's message: never Alice's result
    ("nonexistentword", set()),
])
def test_search_hits_and_misses(people, corpus, session, query, expected) -> None:
    hits = search(session=session, user_id=people["alice"], query=query)
    found = {name for name, cid in corpus.items() if any(h.conversation_id == cid for h in hits)}
    assert found == expected


def test_search_results_are_newest_first_with_highlighted_snippets(people, corpus, session) -> None:
    hits = [h for h in search(session=session, user_id=people["alice"], query="sea") if h.message_id]
    assert [h.role for h in hits] == ["assistant", "user"]  # newest message first
    assert "**SEA**" in hits[0].snippet
    korean = [h for h in search(session=session, user_id=people["alice"], query="데이터") if h.message_id][0]
    assert "**데이터**베이스를" in korean.snippet


def test_snippet_escapes_markdown_around_the_match() -> None:
    from core.history import snippet

    assert snippet("use <b>*bold*</b> db here", "db") == "use \\<b\\>\\*bold\\*\\</b\\> **db** here"


def test_deleted_and_archived_in_search(people, corpus, session) -> None:
    a = people["alice"]
    set_flags(session=session, user_id=a, conversation_ids=[corpus["poem"]], archived=True)
    assert search(session=session, user_id=a, query="sea")  # archived still searchable by default
    assert not search(session=session, user_id=a, query="sea", include_archived=False)
    assert delete(session=session, user_id=a, conversation_ids=[corpus["poem"]]) == 1
    assert not search(session=session, user_id=a, query="sea")
    assert corpus["poem"] not in [r.conversation.id for r in list_conversations(
        session=session, user_id=a, filters=ListFilter(archived=True)).rows]


def test_index_follows_edits_and_deletes(people, corpus, session) -> None:
    a = people["alice"]
    message = session.exec(select(Message).where(Message.conversation_id == corpus["poem"])
                           .order_by(col(Message.id))).first()
    assert message is not None
    message.content = "Write a haiku about mountains"
    session.add(message)
    session.commit()
    assert search(session=session, user_id=a, query="mountains")
    assert [h.role for h in search(session=session, user_id=a, query="sea") if h.message_id] == ["assistant"]
    session.delete(message)
    session.commit()
    assert not search(session=session, user_id=a, query="mountains")


def test_users_cannot_touch_each_others_conversations(people, corpus, session) -> None:
    a, b = people["alice"], people["bob"]
    assert set_flags(session=session, user_id=b, conversation_ids=[corpus["db"]], pinned=True) == 0
    assert delete(session=session, user_id=b, conversation_ids=[corpus["db"]]) == 0
    with pytest.raises(NotFound):
        rename(session=session, user_id=b, conversation_id=corpus["db"], title="mine now")
    assert "Backups" in export_json(session=session, user_id=a)
    assert "Backups" not in export_json(session=session, user_id=b, conversation_ids=[corpus["db"]])


def test_rename_validates(people, corpus, session) -> None:
    rename(session=session, user_id=people["alice"], conversation_id=corpus["db"], title="  Nightly   backups ")
    assert session.get(Conversation, corpus["db"]).title == "Nightly backups"  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        rename(session=session, user_id=people["alice"], conversation_id=corpus["db"], title="   ")


def test_purge_after_retention(people, corpus, session) -> None:
    a = people["alice"]
    delete(session=session, user_id=a, conversation_ids=[corpus["poem"]])
    assert purge_deleted(session=session, retention_days=30) == 0
    assert purge_deleted(session=session, retention_days=30, now=utcnow() + timedelta(days=31)) == 1
    assert session.get(Conversation, corpus["poem"]) is None
    assert not session.exec(select(Message).where(Message.conversation_id == corpus["poem"])).all()


def test_export_import_roundtrip_is_equal(people, corpus, session) -> None:
    a, b = people["alice"], people["bob"]
    set_flags(session=session, user_id=a, conversation_ids=[corpus["db"]], pinned=True)
    exported = export_json(session=session, user_id=a)
    assert import_conversations(session=session, user_id=b, raw=exported.encode(), max_bytes=MB) == 3
    again = json.loads(export_json(session=session, user_id=b))
    original = json.loads(exported)
    strip = lambda doc: [c for c in doc["conversations"] if c["title"] != "Bob's secrets"]  # noqa: E731
    assert strip(again) == strip(original)
    assert search(session=session, user_id=b, query="데이터")  # imported messages are indexed


def test_markdown_export(people, corpus, session) -> None:
    md = export_markdown(session=session, user_id=people["alice"], conversation_ids=[corpus["db"]])
    assert md.startswith("# Backups") and "**You:**" in md and "데이터베이스를" in md


CHATGPT = [{
    "title": "Trip to Busan", "create_time": 1700000000.0, "update_time": 1700000500.0, "current_node": "c",
    "mapping": {
        "root": {"id": "root", "message": None, "parent": None, "children": ["a"]},
        "a": {"id": "a", "parent": "root", "children": ["b", "x"], "message": {
            "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["부산 여행 추천해줘"]},
            "create_time": 1700000100.0}},
        "x": {"id": "x", "parent": "a", "children": [], "message": {
            "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["(an abandoned branch)"]}}},
        "b": {"id": "b", "parent": "a", "children": ["c"], "message": {
            "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["해운대에 가보세요."]},
            "metadata": {"model_slug": "gpt-4o"}, "create_time": 1700000200.0}},
        "c": {"id": "c", "parent": "b", "children": [], "message": {
            "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["Thanks!"]}}},
    },
}]


def test_chatgpt_import_keeps_the_other_branch_and_shows_the_current_one(people, session) -> None:
    from core.history import read_thread

    assert import_conversations(session=session, user_id=people["alice"], raw=json.dumps(CHATGPT).encode(),
                                max_bytes=MB) == 1
    conv = session.exec(select(Conversation).where(Conversation.user_id == people["alice"])).one()
    texts = [m.content for m in session.exec(select(Message).where(Message.conversation_id == conv.id)
                                             .order_by(col(Message.id)))]
    assert (conv.title, conv.model) == ("Trip to Busan", "gpt-4o")
    assert texts == ["부산 여행 추천해줘", "해운대에 가보세요.", "Thanks!", "(an abandoned branch)"]
    thread = read_thread(session=session, user_id=people["alice"], conversation_id=conv.id or 0)
    assert [m.content for m in thread.messages] == ["부산 여행 추천해줘", "해운대에 가보세요.", "Thanks!"]
    reply = thread.messages[1].id
    assert (thread.versions[reply].n, thread.versions[reply].total) == (1, 2)  # "a"'s children: b, then x
    assert conv.created_at.year == 2023


@pytest.mark.parametrize("raw,message", [
    (b"{not json", "not valid UTF-8 JSON"),
    (b'{"hello": 1}', "neither a Parley export"),
    (json.dumps({"schema": "parley.export", "version": 9, "conversations": []}).encode(), "version"),
    (json.dumps({"schema": "parley.export", "version": 1, "conversations": [
        {"title": "ok", "messages": [{"role": "user", "content": "fine"}]},
        {"title": "bad", "messages": [{"role": "system-admin", "content": "x"}]}]}).encode(), "conversations.1"),
    (b"x" * (MB + 1), "limit is 1 MB"),
])
def test_bad_files_are_refused_whole(people, session, raw, message) -> None:
    with pytest.raises(ValidationError, match=message):
        import_conversations(session=session, user_id=people["alice"], raw=raw, max_bytes=MB)
    assert not session.exec(select(Conversation).where(Conversation.user_id == people["alice"])).all()
