"""Browser: a user saves an OpenAI key, sees it masked, checks it, chats through it, and deletes it;
a user switches Parley to Korean and the dark theme, and both stay after a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ARTIFACTS, LiveServer, add_live_user, login, wait_idle
from tests.fakes.provider_server import FakeProviderServer, Reply

pytestmark = pytest.mark.browser
KEY = "sk-good-key"


@pytest.fixture(scope="module")
def server_env(fake_openai: FakeProviderServer) -> dict[str, str]:
    return {"PARLEY_PROVIDERS__OPENAI__BASE_URL": fake_openai.openai_url, "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0"}


def test_user_key_lifecycle(live_server: LiveServer, browser: Browser, fake_openai: FakeProviderServer) -> None:
    add_live_user(live_server, "kim", "Kim-pass-1234")
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    login(page, live_server.url, "kim", "Kim-pass-1234")
    page.get_by_role("link", name="Settings").click()
    wait_idle(page)
    page.get_by_role("tab", name="Provider keys").click()
    page.get_by_label("Add key").first.fill(f"  {KEY}  ")
    page.get_by_role("button", name="Save key").first.click()
    wait_idle(page)
    expect(page.get_by_text("sk-…-key")).to_be_visible()  # masked: only the last four characters
    expect(page.get_by_text(KEY, exact=True)).to_have_count(0)
    page.get_by_role("button", name="Check key").click()
    wait_idle(page)
    expect(page.get_by_text("OpenAI key: ✅ valid — The key works.")).to_be_visible()
    expect(page.get_by_text("not checked yet")).to_have_count(0)

    page.get_by_role("link", name="Chat").click()
    wait_idle(page)
    page.get_by_text("Model and parameters").click()
    expect(page.get_by_text("OpenAI: ")).to_have_count(0)  # not listed among the providers that cannot answer
    page.get_by_test_id("stSelectbox").filter(has_text="Model").locator("input").click()
    page.keyboard.type("gpt-4o-mini")
    page.keyboard.press("Enter")
    wait_idle(page)
    fake_openai.enqueue("openai", Reply(chunks=["Hello", " from", " your", " own", " key."]))
    page.get_by_test_id("stChatInputTextArea").fill("Hi!")
    page.keyboard.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("Hello from your own key.")).to_be_visible()
    expect(page.get_by_text("openai · gpt-4o-mini")).to_be_visible()
    assert fake_openai.calls("/chat/completions")[-1].headers["authorization"] == f"Bearer {KEY}"

    page.get_by_role("link", name="Settings").click()
    wait_idle(page)
    page.get_by_role("tab", name="Provider keys").click()
    page.get_by_role("button", name="Delete").click()
    wait_idle(page)
    expect(page.get_by_text("sk-…-key")).to_have_count(0)
    page.close()


def _background_is_dark(page) -> bool:  # type: ignore[no-untyped-def]
    rgb = page.evaluate("""() => getComputedStyle(document.querySelector('[data-testid="stApp"]'))
                              .backgroundColor.match(/\\d+/g).map(Number)""")
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255 < 0.5


def test_user_switches_to_korean_and_dark_and_it_sticks(live_server: LiveServer, browser: Browser) -> None:
    add_live_user(live_server, "lee", "Lee-pass-1234")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    login(page, live_server.url, "lee", "Lee-pass-1234")
    assert not _background_is_dark(page)
    page.get_by_role("link", name="Settings").click()
    wait_idle(page)
    page.get_by_role("tab", name="Language and theme").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Language").locator("input").click()
    page.get_by_role("option", name="한국어").click()
    page.get_by_text("Dark", exact=True).click()
    page.get_by_role("button", name="Save").click()
    wait_idle(page)
    expect(page.get_by_role("link", name="채팅")).to_be_visible()  # every page title, in Korean
    expect(page.get_by_role("heading", name="설정")).to_be_visible()
    page.wait_for_function("""() => { const m = getComputedStyle(document.querySelector('[data-testid="stApp"]'))
                               .backgroundColor.match(/\\d+/g); return m && Number(m[0]) < 128; }""", timeout=20_000)
    wait_idle(page)
    assert _background_is_dark(page)

    page.reload()  # a new session: logged in again from the cookie, same language and theme
    wait_idle(page)
    expect(page.get_by_role("heading", name="설정")).to_be_visible()
    expect(page.get_by_role("button", name="로그아웃")).to_be_visible()
    assert _background_is_dark(page)
    page.get_by_role("tab", name="언어 및 테마").click()
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "settings-ko-dark.png"))
    page.close()
