"""History page with AppTest: guard, list, search with snippets, import of a bad file."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT
from core.db import get_engine
from core.models import Conversation, Message, User, utcnow

PAGE = str(PROJECT_ROOT / "pages/history.py")


def _as_admin() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "admin"
    at.session_state["parley_login_at"] = utcnow()
    return at


def _seed() -> None:
    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        conv = Conversation(user_id=admin, title="Backups", provider="local", model="m")
        session.add(conv)
        session.flush()
        session.add(Message(conversation_id=conv.id or 0, role="user", content="데이터베이스를 백업하는 방법"))
        session.commit()


def test_history_refuses_anonymous(sqlite_app: Path) -> None:
    at = AppTest.from_file(PAGE).run()
    assert "log in" in at.error[0].value


def test_history_lists_and_searches(sqlite_app: Path) -> None:
    _seed()
    at = _as_admin().run()
    assert not at.exception
    assert any("1 conversation(s)" in c.value for c in at.caption)
    at.text_input(key="history_query").input("데이터").run()
    assert any("**데이터**베이스를" in m.value for m in at.markdown)
    at.text_input(key="history_query").input("nothing-like-this").run()
    assert "Nothing found." in at.info[0].value
