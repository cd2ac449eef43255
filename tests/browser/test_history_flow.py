"""Browser: search history, find a message (Korean substring too) and open its conversation at the hit."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session, select

from core.db import make_engine
from core.models import Conversation, Message, User
from tests.browser.conftest import ADMIN_PASSWORD, LiveServer, login, wait_idle

pytestmark = pytest.mark.browser


def _seed(server: LiveServer) -> None:
    engine = make_engine(f"sqlite:///{server.data_dir / 'parley.db'}")
    with Session(engine) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        for title, texts in (("Nightly backups", ["How do I back up the database?",
                                                  "우리는 매일 밤 데이터베이스를 백업합니다."]),
                             ("Sea poem", ["Write a poem about the sea", "The sea is wide and blue"])):
            conv = Conversation(user_id=admin, title=title, provider="local", model="smollm2-135m-instruct")
            session.add(conv)
            session.flush()
            parent = None
            for i, text in enumerate(texts):  # one branch: each message after the one before
                message = Message(conversation_id=conv.id or 0, role="user" if i % 2 == 0 else "assistant",
                                  content=text, parent_id=parent)
                session.add(message)
                session.flush()
                parent = message.id
        session.commit()
    engine.dispose()


def test_search_finds_a_message_and_opens_its_conversation(live_server: LiveServer, browser: Browser) -> None:
    _seed(live_server)
    page = browser.new_page()
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="History").click()
    wait_idle(page)
    expect(page.get_by_text("2 conversation(s)")).to_be_visible()

    page.get_by_label("Search titles and messages").fill("데이터")
    page.keyboard.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("1 results, newest first")).to_be_visible()
    expect(page.locator("strong", has_text="데이터")).to_be_visible()  # the match is highlighted

    page.get_by_role("button", name="Open").click()
    wait_idle(page)
    expect(page.get_by_text("Search hit · message 2 of 2")).to_be_visible()
    expect(page.get_by_test_id("stChatMessage").filter(has_text="How do I back up the database?")).to_have_count(2)
    assert "c=" in page.url  # the conversation is open in Chat and continues there
    page.close()


def test_an_import_shows_in_the_list_at_once(live_server: LiveServer, browser: Browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    export = {"schema": "parley.export", "version": 2, "conversations": [
        {"title": "Imported lighthouse", "provider": "local", "model": "smollm2-135m-instruct", "messages": [
            {"id": 1, "role": "user", "content": "Who keeps the lighthouse?"},
            {"id": 2, "parent": 1, "role": "assistant", "content": "Alvar does."}]}]}
    path = tmp_path / "parley-export.json"
    path.write_text(json.dumps(export))
    page = browser.new_page()
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="History").click()
    wait_idle(page)
    before = page.get_by_text("conversation(s)", exact=False).first.inner_text()
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("Imported 1 conversation(s).")).to_be_visible()
    count = int(before.split()[0])
    expect(page.get_by_text(f"{count + 1} conversation(s)")).to_be_visible()  # the list, without a reload
    expect(page.get_by_text("Imported lighthouse")).to_have_count(1)  # a row of the table (a canvas grid)
    page.close()
