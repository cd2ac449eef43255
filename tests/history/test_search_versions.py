"""Search covers every version of every message, not only the branch shown: a hit in another version names its
message, and showing that version brings it on screen. On SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from core.history import import_conversations, read_thread, search, show_version
from core.models import Conversation
from tests.conftest import add_user

CHATGPT_BRANCHED = Path(__file__).parent / "fixtures" / "chatgpt_branched.json"


def test_search_finds_text_that_only_a_version_not_shown_holds(session: Session) -> None:
    alice = add_user(session, "alice")
    import_conversations(session=session, user_id=alice, raw=CHATGPT_BRANCHED.read_bytes(), max_bytes=1_000_000)
    conv = session.exec(select(Conversation.id).where(Conversation.user_id == alice)).one() or 0
    shown = read_thread(session=session, user_id=alice, conversation_id=conv).messages
    assert not any("gukbap" in m.content for m in shown)  # only in the first question's branch, not shown

    [hit] = [h for h in search(session=session, user_id=alice, query="gukbap") if h.message_id]
    assert hit.conversation_id == conv and hit.role == "assistant" and "**gukbap**" in hit.snippet
    show_version(session=session, user_id=alice, conversation_id=conv, message_id=hit.message_id or 0)
    session.expire_all()
    now = read_thread(session=session, user_id=alice, conversation_id=conv).messages
    assert now[-1].id == hit.message_id and now[-2].content == "What about food?"
