"""Chat page with AppTest: the guard, a real turn with the local model, errors shown clearly, ownership."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT, get_settings
from core.db import get_engine
from core.models import Conversation, Message, User, utcnow
from tests.fakes.provider_server import FakeProviderServer, Reply

CHAT = str(PROJECT_ROOT / "pages/chat.py")


def shown(markdown: str) -> str:
    """What the reader sees of escaped Markdown (names in captions are escaped: they are data)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _chat_as(username: str, **state: object) -> AppTest:
    at = AppTest.from_file(CHAT, default_timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["parley_login_at"] = utcnow()
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _messages() -> list[Message]:
    with Session(get_engine()) as session:
        return list(session.exec(select(Message).order_by(col(Message.id))))


@pytest.fixture
def fake_server() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer().start()
    yield server
    server.stop()


def test_chat_refuses_anonymous_visitor(sqlite_app: Path) -> None:
    at = AppTest.from_file(CHAT).run()
    assert "log in" in at.error[0].value
    assert not at.chat_input


def test_message_gets_a_reply_from_the_local_model(sqlite_app: Path) -> None:
    at = _chat_as("admin", chat_temperature=0.0, chat_max_tokens=16).run()
    assert not at.exception
    at.chat_input[0].set_value("Say hello.").run()
    assert not at.exception and not at.error
    stored = _messages()
    assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[1].content and stored[1].provider == "local"
    bubbles = list(at.chat_message)
    assert len(bubbles) == 2
    assert any("local · smollm2-135m-instruct" in shown(c.value) for c in at.caption)


@pytest.fixture
def openai_at_fake(sqlite_app: Path, fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI configured with an organisation key, pointing at the local protocol server, no retries."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-good-key")
    monkeypatch.setenv("PARLEY_PROVIDERS__OPENAI__BASE_URL", fake_server.openai_url)
    monkeypatch.setenv("PARLEY_PROVIDERS__OPENAI__MAX_RETRIES", "0")
    get_settings.cache_clear()


def test_provider_error_is_shown_clearly_and_the_message_kept(
    openai_at_fake: None, fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_CHAT__FALLBACK", "[openai]")  # no fallback: the error must show
    get_settings.cache_clear()
    fake_server.enqueue("openai", Reply(status=500))
    at = _chat_as("admin", chat_model="openai/gpt-4o-mini").run()
    at.chat_input[0].set_value("Are you there?").run()
    assert not at.exception
    assert "unavailable" in " ".join(e.value for e in at.error)
    assert [m.content for m in _messages()][0] == "Are you there?"


def test_fallback_reply_says_which_model_answered(openai_at_fake: None, fake_server: FakeProviderServer) -> None:
    fake_server.enqueue("openai", Reply(status=503))
    at = _chat_as("admin", chat_model="openai/gpt-4o-mini", chat_max_tokens=16, chat_temperature=0.0).run()
    at.chat_input[0].set_value("Hello?").run()
    assert any("fallback because openai failed" in shown(c.value) for c in at.caption)
    assert _messages()[-1].provider == "local"


def test_other_users_conversation_in_url_is_not_opened(sqlite_app: Path) -> None:
    with Session(get_engine()) as session:
        admin_id = session.exec(select(User.id).where(User.username == "admin")).one()
        conv = Conversation(user_id=admin_id, provider="local", model="m", title="secret plans")
        session.add(conv)
        session.commit()
        session.add(Message(conversation_id=conv.id or 0, role="user", content="top secret"))
        session.commit()
        conv_id = conv.id
    from core.accounts import create_user
    from core.models import UserCreate

    with Session(get_engine()) as session:
        create_user(session=session, actor_id=admin_id, user_in=UserCreate(
            username="eve", email="eve@example.com", display_name="Eve", password="Eve-pass-1234"))
    at = _chat_as("eve")
    at.query_params["c"] = str(conv_id)
    at.run()
    assert not at.exception
    assert "top secret" not in " ".join(m.value for m in at.markdown)
    assert at.session_state["chat_conversation_id"] is None


def test_the_sidebar_picks_the_team_charged_and_the_quota_shows_its_month(sqlite_app: Path) -> None:
    from core.accounts import add_member, create_team
    from core.models import TeamCreate, UsageEvent

    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        first = create_team(session=session, actor_id=admin, team_in=TeamCreate(name="First")).id
        second = create_team(session=session, actor_id=admin,
                             team_in=TeamCreate(name="Second", budget_usd_per_month=25.0)).id
        for team in (first, second):
            add_member(session=session, actor_id=admin, team_id=team, user_id=admin)
    at = _chat_as("admin", chat_temperature=0.0, chat_max_tokens=16).run()
    assert at.selectbox(key="chat_team").value == first  # the default team
    at.selectbox(key="chat_team").select(second).run()
    assert any("team Second: $0.00 of $25.00 this month" in shown(c.value) for c in at.caption)
    at.chat_input[0].set_value("Say hello.").run()
    assert not at.exception and not at.error
    with Session(get_engine()) as session:
        assert session.exec(select(UsageEvent.team_id)).all() == [second]


def test_a_reply_is_streamed_and_shown_stored_in_one_run_of_the_page(
    openai_at_fake: None, fake_server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page does not run twice per reply: the run that streams it also leaves the page whole — the reply with
    its actions (no Stop), the new conversation in the list, the quota line."""
    from core.ui.chat import conversation_list

    runs: list[int] = []
    render = conversation_list.render
    monkeypatch.setattr(conversation_list, "render", lambda *a, **kw: (runs.append(1), render(*a, **kw))[1])
    fake_server.enqueue("openai", Reply(chunks=["Hello", " there."]))
    at = _chat_as("admin", chat_model="openai/gpt-4o-mini").run()
    runs.clear()
    at.chat_input[0].set_value("Hi?").run()
    assert not at.exception and not at.error
    assert len(runs) == 1  # one run of the page for the whole reply
    with Session(get_engine()) as session:
        conv = session.exec(select(Conversation)).one()
    keys = {b.key for b in at.button}
    assert {f"conv_open_{conv.id}", "chat_regenerate", f"chat_edit_{_messages()[0].id}"} <= keys
    assert "chat_stop" not in keys  # the streaming bubble was drawn over by the stored reply
    assert [m.markdown[0].value for m in at.chat_message] == ["Hi?", "Hello there."]
    assert any("openai · gpt-4o-mini" in shown(c.value) for c in at.caption)
    assert any("59 of 60 requests left this minute" in c.value for c in at.caption)  # the quota, after the turn


def test_a_draft_with_an_image_and_no_model_that_sees_can_still_go_without_it(sqlite_app: Path) -> None:
    """Only the offline model here: a draft holding an image keeps the picker (saying no model sees images), and
    Send with the image left out gets the document's text answered."""
    from core.history.attachments import Upload
    from core.ui import state
    from tests.providers.test_images import picture

    files = [Upload("dot.png", picture(20, 20)), Upload("note.md", b"# Note\n\nThe door code is 4711.\n")]
    at = _chat_as("admin", chat_temperature=0.0, chat_max_tokens=16, **{
        state.DRAFT: "What is the door code?", state.DRAFT_ERROR: "refused", state.DRAFT_FILES: files}).run()
    assert not at.exception
    assert any("No model here can see images" in c.value for c in at.sidebar.caption)
    assert at.sidebar.selectbox and "No provider can answer" not in " ".join(e.value for e in at.error)
    at.multiselect(key=f"{state.DRAFT}_kept").unselect("1. dot.png")
    at.button[0].click().run()  # the draft's Send
    assert not at.exception
    stored = _messages()
    assert [m.role for m in stored] == ["user", "assistant"] and stored[0].content == "What is the door code?"
    with Session(get_engine()) as session:
        from core.models import Attachment
        assert [a.name for a in session.exec(select(Attachment))] == ["note.md"]
