"""Browser: create a knowledge base, upload a document, wait until it is ready, ask in Chat with it, see the
numbered source and open it at the cited passage."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, LiveServer, login, wait_idle
from tests.fakes.provider_server import FakeProviderServer, Reply

pytestmark = pytest.mark.browser

HANDBOOK = """# Backups
Parley writes a backup archive every night at 03:00 UTC and keeps seven daily archives.

# Coffee
The espresso machine is descaled every Monday by the facilities team.
"""


@pytest.fixture(scope="module")
def server_env(fake_openai: FakeProviderServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": fake_openai.openai_url,
            "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__DEFAULT_PROVIDER": "openai",
            "PARLEY_CHAT__FALLBACK": "[]"}


def test_upload_ask_and_open_the_citation(live_server: LiveServer, browser: Browser, fake_openai: FakeProviderServer,
                                          tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Knowledge").click()
    wait_idle(page)
    page.get_by_label("Name").fill("Handbook")
    page.get_by_role("button", name="Create").click()
    wait_idle(page)
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    page.locator("input[type=file]").set_input_files(str(handbook))
    wait_idle(page)
    page.get_by_role("button", name="Upload and index").click()
    # The documents table (a canvas grid: its cells are in the DOM, not visible to the locator) once indexed.
    expect(page.locator("[role=gridcell]", has_text="ready")).to_have_count(1, timeout=60_000)

    page.get_by_role("link", name="Chat").click()
    wait_idle(page)
    page.get_by_test_id("stMultiSelect").click()
    page.get_by_role("option", name="Handbook").click()
    page.keyboard.press("Escape")
    wait_idle(page)
    fake_openai.enqueue("openai", Reply(chunks=["Every night at 03:00 UTC ", "[1]."]))
    page.get_by_test_id("stChatInputTextArea").fill("When are backups written?")
    page.keyboard.press("Enter")
    wait_idle(page, timeout=60_000)
    expect(page.get_by_test_id("stChatMessage").nth(1)).to_contain_text("03:00 UTC [1]")
    system = fake_openai.calls("/chat/completions")[-1].body["messages"][0]["content"]
    assert "[1] handbook.md (Backups)" in system

    page.get_by_text("Sources: 1 cited").first.click()  # [1] is cited; others were only given to the model
    link = page.get_by_role("link", name="[1] handbook.md · Backups")
    expect(link).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "knowledge-citation.png"))
    href = link.get_attribute("href") or ""
    assert "knowledge?doc=" in href
    page.goto(f"{live_server.url}/{href.split('/')[-1]}")
    wait_idle(page)
    cited = page.get_by_test_id("stAlertContentSuccess")
    expect(cited).to_contain_text("every night at 03:00 UTC")
    expect(cited).not_to_contain_text("espresso")
    page.screenshot(path=str(ARTIFACTS / "knowledge-source.png"))
    page.close()
