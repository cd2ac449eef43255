"""Browser: the chat sidebar's conversation list — day headings, title search, rename, delete and undo without a
reload, titles shown literally, and on a phone-sized screen picking a conversation closes the sidebar."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlmodel import Session, select

from core.db import make_engine
from core.models import Conversation, Message, User, utcnow
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, LiveServer, login, wait_idle

pytestmark = pytest.mark.browser

MARKDOWN_TITLE = "**bold** [x](y) :red[hot] <b>tag</b> &amp;"
LONG_TITLE = "A very long title about " + "many different things " * 8
SEED = {  # title: days since last used
    "Alpha today": 0, LONG_TITLE: 0, "Beta yesterday": 1, "Gamma this week": 3, MARKDOWN_TITLE: 30,
}


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> dict[str, int]:
    """The admin's conversations, last used on different days; their ids by title."""
    engine = make_engine(f"sqlite:///{live_server.data_dir / 'parley.db'}")
    ids = {}
    with Session(engine) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        for i, (title, days) in enumerate(SEED.items()):
            when = utcnow() - timedelta(days=days, minutes=i)
            conv = Conversation(user_id=admin, title=title, provider="local", model="smollm2-135m-instruct",
                                created_at=when, updated_at=when)
            session.add(conv)
            session.flush()
            session.add(Message(conversation_id=conv.id or 0, role="user", content=f"Hello from {title[:12]}"))
            ids[title] = conv.id or 0
        session.commit()
    engine.dispose()
    return ids


def _row(page: Page, conv_id: int) -> Locator:
    return page.locator(f".st-key-conv_open_{conv_id} button")


def _titles(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("[class*='st-key-conv_open_'] button").all_inner_texts()]


def _expect_open(page: Page, first_message: str) -> None:
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(1)
    expect(messages.first).to_contain_text(first_message)


def _menu(page: Page, conv_id: int) -> None:
    page.locator(f".st-key-conv_menu_{conv_id} button").first.click()
    wait_idle(page)


def test_list_groups_searches_renames_deletes_and_undoes(live_server: LiveServer, browser: Browser,
                                                          seeded: dict[str, int]) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page = context.new_page()
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    sidebar = page.get_by_test_id("stSidebar")
    headings = sidebar.locator("[class*='st-key-conv_group_']")
    expect(headings).to_have_text(["Today", "Yesterday", "Previous 7 days", "Older"])
    assert _titles(page) == ["Alpha today", LONG_TITLE.strip(), "Beta yesterday", "Gamma this week",
                             MARKDOWN_TITLE]

    markdown_row = _row(page, seeded[MARKDOWN_TITLE])  # user data: shown as typed, nothing rendered
    expect(markdown_row).to_have_text(MARKDOWN_TITLE)
    expect(markdown_row.locator("[data-testid=stMarkdownContainer] p *")).to_have_count(0)
    long_row = _row(page, seeded[LONG_TITLE])  # one line, cut with an ellipsis
    box, short_box = long_row.bounding_box(), _row(page, seeded["Alpha today"]).bounding_box()
    assert box and short_box and box["height"] == short_box["height"]
    assert long_row.evaluate("b => [...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth"
                             " && getComputedStyle(e).textOverflow === 'ellipsis')")

    search = sidebar.get_by_placeholder("Search titles")
    search.fill("GAMMA")
    search.press("Enter")
    wait_idle(page)
    assert _titles(page) == ["Gamma this week"]
    expect(headings).to_have_text(["Previous 7 days"])
    search.fill("")
    search.press("Enter")
    wait_idle(page)
    assert len(_titles(page)) == len(SEED)

    beta = seeded["Beta yesterday"]
    _menu(page, beta)
    title_box = page.get_by_label("Title")
    expect(title_box).to_have_value("Beta yesterday")
    title_box.fill("Beta *renamed*")
    page.get_by_role("button", name="Rename").click()
    wait_idle(page)
    expect(_row(page, beta)).to_have_text("Beta *renamed*")
    expect(page.get_by_label("Title")).to_have_count(0)  # the menu closed

    alpha = seeded["Alpha today"]
    _row(page, alpha).click()
    wait_idle(page)
    _expect_open(page, "Hello from Alpha today")
    assert f"c={alpha}" in page.url
    expect(sidebar).to_have_attribute("data-collapsed", "false")  # a wide screen keeps its sidebar
    expect(_row(page, alpha)).to_have_attribute("kind", "secondary")  # the open one stands out

    _menu(page, alpha)
    page.locator(f".st-key-conv_delete_{alpha} button").click()
    wait_idle(page)
    expect(_row(page, alpha)).to_have_count(0)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)  # back to a new conversation
    assert "c=" not in page.url
    notice = sidebar.locator(".st-key-conv_undo_box")
    expect(notice).to_contain_text("Deleted “Alpha today”.")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sidebar-list.png"))

    notice.get_by_role("button", name="Undo").click()
    wait_idle(page)
    expect(notice).to_have_count(0)
    expect(_row(page, alpha)).to_be_visible()
    _expect_open(page, "Hello from Alpha today")  # reopened
    assert f"c={alpha}" in page.url
    assert _titles(page)[0] == "Alpha today"
    context.close()


def test_picking_a_conversation_on_a_phone_closes_the_sidebar(live_server: LiveServer, browser: Browser,
                                                              seeded: dict[str, int]) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 844}, timezone_id="UTC", has_touch=True)
    page = context.new_page()
    login(page, live_server.url, "admin", ADMIN_PASSWORD)  # waits for the sidebar's page links to show
    page.set_viewport_size({"width": 390, "height": 844})
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_have_attribute("data-collapsed", "true")  # Streamlit's own: narrow screens start closed
    page.get_by_test_id("stExpandSidebarButton").click()
    expect(sidebar).to_have_attribute("data-collapsed", "false")

    gamma = seeded["Gamma this week"]
    _row(page, gamma).click()
    wait_idle(page)
    expect(sidebar).to_have_attribute("data-collapsed", "true")
    _expect_open(page, "Hello from Gamma this w")
    assert f"c={gamma}" in page.url
    page.screenshot(path=str(ARTIFACTS / "sidebar-phone.png"))

    page.get_by_test_id("stExpandSidebarButton").click()  # it opens again, the conversation highlighted
    expect(sidebar).to_have_attribute("data-collapsed", "false")
    expect(_row(page, gamma)).to_have_attribute("kind", "secondary")
    context.close()
