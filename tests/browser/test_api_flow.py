"""Browser: a user creates a personal API token in Settings, sees it once, calls /v1 with the openai SDK,
then revokes it and the next call is refused."""

from __future__ import annotations

import time

import openai
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, add_live_user, login, wait_idle
from tests.fakes.provider_server import FakeProviderServer, Reply

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_env(fake_openai: FakeProviderServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": fake_openai.openai_url,
            "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0"}


def test_create_token_in_settings_then_call_the_api(live_server: LiveServer, browser: Browser,
                                                    fake_openai: FakeProviderServer) -> None:
    add_live_user(live_server, "dev", "Dev-pass-1234")
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    login(page, live_server.url, "dev", "Dev-pass-1234")
    page.get_by_role("link", name="Settings").click()
    wait_idle(page)
    page.get_by_role("tab", name="API tokens").click()
    expect(page.get_by_text(f"{live_server.url}/v1")).to_be_visible()
    page.get_by_label("Token name").fill("my script")
    page.get_by_role("button", name="Create token").click()
    wait_idle(page)
    expect(page.get_by_text("Copy your new token now")).to_be_visible()
    token = page.get_by_test_id("stCode").filter(has_text="pk-").inner_text().strip()
    assert token.startswith("pk-") and len(token) > 40

    client = openai.OpenAI(api_key=token, base_url=f"{live_server.url}/v1", max_retries=0, timeout=30)
    fake_openai.enqueue("openai", Reply(chunks=["Hello", " from the API."]))
    reply = client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content == "Hello from the API."

    page.reload()  # the token is never shown again; the list shows only its last four characters
    wait_idle(page)
    revoke = page.get_by_role("button", name="Revoke")
    deadline = time.monotonic() + 30
    while not revoke.is_visible():  # after a reload the login cookie's own rerun can swallow the first click
        assert time.monotonic() < deadline, "the API tokens tab never showed its list"
        page.get_by_role("tab", name="API tokens").click()
        page.wait_for_timeout(500)
    expect(page.get_by_text(token)).to_have_count(0)
    revoke.click()
    wait_idle(page)
    expect(page.get_by_text("Token my script revoked")).to_be_visible()
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
