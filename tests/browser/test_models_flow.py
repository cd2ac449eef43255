"""Browser: Admin → Models. Discovery (started from the page, run in the background) adds the wire-protocol
server's model, disabled until priced; priced and enabled, Chat's picker offers it and it answers; disabled, the
picker drops it. /v1/models follows the same catalog (tests/api/test_catalog_api.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, LiveServer, login, wait_idle
from tests.fakes.provider_server import FakeProviderServer, Reply

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server_env(fake_openai: FakeProviderServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": fake_openai.openai_url,
            "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__FALLBACK": "[]"}


def _models_tab(page: Page) -> None:
    page.get_by_role("link", name="Admin").click()
    wait_idle(page)
    page.get_by_role("tab", name="Models").click()
    wait_idle(page)


def _pick(page: Page, label: str, typed: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).locator("input").click()
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    wait_idle(page)


def _offered_in_chat(page: Page, *, pick: bool = False) -> bool:
    """Chat's picker lists the model (pick: and it is chosen, by clicking its option)."""
    page.get_by_role("link", name="Chat").click()
    wait_idle(page)
    page.get_by_text("Model and parameters").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Model").first.locator("input").click()
    page.keyboard.type("fake")
    match, none = page.get_by_role("option", name="OpenAI · Fake (ours)"), page.get_by_text("No results")
    expect(match.or_(none).first).to_be_visible(timeout=10_000)  # the filtered list has been drawn
    offered = match.count() == 1
    if offered and pick:
        match.click()
        wait_idle(page)
        expect(page.get_by_role("combobox", name="Model")).to_have_value("OpenAI · Fake (ours)")
    else:
        page.keyboard.press("Escape")
    return offered


def test_admin_discovers_prices_enables_and_disables_a_model(live_server: LiveServer, browser: Browser,
                                                             fake_openai: FakeProviderServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    _models_tab(page)
    page.get_by_role("button", name="Discover models now").click()
    wait_idle(page)
    expect(page.get_by_text("openai: just now, models offered: 1, new: 1")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("anthropic:", exact=False).first).to_be_visible()  # no key: it says why
    _pick(page, "Model to edit", "openai/fake-model")
    expect(page.get_by_role("button", name="Enable", exact=True)).to_be_disabled()  # no price yet

    prices = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Save prices"))
    prices.get_by_label("Input", exact=True).fill("1")
    prices.get_by_label("Output", exact=True).fill("2")
    prices.get_by_role("button", name="Save prices").click()
    wait_idle(page)
    expect(page.get_by_text("Prices of openai/fake-model saved.")).to_be_visible()
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Save model"))
    form.get_by_label("Display name").fill("Fake (ours)")
    form.get_by_test_id("stCheckbox").filter(has_text="Enabled").click()
    form.get_by_role("button", name="Save model").click()
    wait_idle(page)
    expect(page.get_by_text("openai/fake-model saved.")).to_be_visible()
    expect(page.get_by_role("button", name="Disable", exact=True)).to_be_visible()  # the buttons follow at once
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-models.png"), full_page=True)

    assert _offered_in_chat(page, pick=True)
    fake_openai.enqueue("openai", Reply(chunks=["Served by", " the new model."]))
    page.get_by_test_id("stChatInputTextArea").fill("Hello?")
    page.keyboard.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("Served by the new model.")).to_be_visible(timeout=20_000)
    assert fake_openai.calls("/chat/completions")[-1].body["model"] == "fake-model"

    _models_tab(page)
    _pick(page, "Model to edit", "openai/fake-model")
    page.get_by_role("button", name="Disable", exact=True).click()
    wait_idle(page)
    expect(page.get_by_text("openai/fake-model is no longer offered.")).to_be_visible()
    assert not _offered_in_chat(page)
