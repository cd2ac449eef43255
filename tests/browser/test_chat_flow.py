"""Browser: chat with the bundled local model; the reply streams, survives a reload, and stop keeps it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, LiveServer, add_live_user, login, wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    # Long replies so there is time to press stop while the model is still writing.
    return {"PARLEY_CHAT__DEFAULT_MAX_TOKENS": "1500", "PARLEY_LIMITS__USER__REQUESTS_PER_MINUTE": "1"}


def _send(page: Page, text: str) -> None:
    page.get_by_test_id("stChatInputTextArea").fill(text)
    page.keyboard.press("Enter")


def _reply(page: Page) -> str:
    return page.get_by_test_id("stChatMessage").nth(1).inner_text()


def test_reply_streams_from_local_model_and_survives_reload(live_server: LiveServer, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    _send(page, "Write a short poem about the sea.")
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2, timeout=20_000)
    lengths = []
    for _ in range(6):  # the reply grows while the script is still running: it streams
        lengths.append(len(_reply(page)))
        page.wait_for_timeout(120)
    wait_idle(page, timeout=180_000)  # the bundled model writes slowly on a busy 2-core machine
    final = _reply(page)
    assert len(set(lengths)) > 1 or lengths[-1] < len(final)
    expect(page.get_by_text("local · smollm2-135m-instruct")).to_be_visible()
    assert "c=" in page.url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"))

    page.reload()
    wait_idle(page)
    expect(messages).to_have_count(2)
    expect(messages.first).to_contain_text("Write a short poem about the sea.")
    assert _reply(page).split("\n")[0] == final.split("\n")[0]
    page.close()


def test_stop_mid_reply_keeps_partial_text(live_server: LiveServer, browser: Browser) -> None:
    page = browser.new_page()
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    page.get_by_role("button", name="New conversation").click()
    wait_idle(page)
    _send(page, "Write a long story about a dragon who learns to bake bread.")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=20_000)
    page.wait_for_function(
        "() => { const m = document.querySelectorAll('[data-testid=stChatMessage]'); "
        "return m.length > 1 && m[1].innerText.length > 80; }", timeout=90_000)
    page.get_by_role("button", name="Stop").click()
    wait_idle(page)
    partial = _reply(page).strip()
    assert len(partial) > 80

    page.reload()
    wait_idle(page)
    expect(page.get_by_text("Stopped — partial reply kept.")).to_be_visible()
    stored = _reply(page)
    assert stored.startswith(partial[:60])
    page.close()


def test_message_over_the_limit_is_refused_with_retry_time_and_kept(
    live_server: LiveServer, browser: Browser
) -> None:
    add_live_user(live_server, "lim", "Lim-pass-1234")
    page = browser.new_page()
    login(page, live_server.url, "lim", "Lim-pass-1234")
    expect(page.get_by_text("1 of 1 requests left this minute")).to_be_visible()
    _send(page, "Say hi.")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=20_000)
    wait_idle(page, timeout=180_000)
    expect(page.get_by_text("0 of 1 requests left this minute")).to_be_visible()

    _send(page, "This one is over the limit.")
    wait_idle(page)
    expect(page.get_by_text("limit of 1 request per minute")).to_be_visible()
    expect(page.get_by_text("Try again at")).to_be_visible()
    draft = page.get_by_label("Your message (not sent yet)")
    expect(draft).to_have_value("This one is over the limit.")
    expect(page.get_by_test_id("stChatMessage")).to_have_count(2)  # nothing was sent
    page.close()
