"""Browser: the first admin approves a registered user, disables them, and their old cookie dies."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, LiveServer, add_live_user, login, wait_idle

pytestmark = pytest.mark.browser
COOKIE = "parley_auth"


def _signed_in_as(page: Page, username: str) -> None:
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=20_000)


def _auth_cookies(context: BrowserContext, page: Page) -> list:  # type: ignore[type-arg]
    for _ in range(50):  # the cookie is written by the authenticator's component in the browser
        cookies = [c for c in context.cookies() if c["name"] == COOKIE]
        if cookies:
            return cookies
        page.wait_for_timeout(200)
    raise AssertionError("the login cookie was never set")


def _admin_select_user(page: Page, username: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="User").click()
    page.get_by_role("option", name=username).first.click()
    wait_idle(page)


def test_healthz_reports_database(live_server: LiveServer) -> None:
    with urllib.request.urlopen(f"{live_server.url}/healthz") as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok", "database": "ok"}


def test_admin_approves_then_disables_user_and_old_cookie_stops_working(
    live_server: LiveServer, browser: Browser
) -> None:
    url = live_server.url
    user_ctx = browser.new_context()
    user = user_ctx.new_page()
    user.goto(url)
    wait_idle(user)
    user.get_by_role("tab", name="Create account").click()
    user.get_by_label("Name", exact=True).fill("Dave Kim 김")
    user.get_by_label("Email", exact=True).fill("dave@example.com")
    user.get_by_label("Username", exact=True).nth(1).fill("dave")
    user.get_by_label("Password", exact=True).nth(1).fill("Dave-pass-123")
    user.get_by_label("Repeat password", exact=True).fill("Dave-pass-123")
    user.get_by_role("button", name="Create account").click()
    wait_idle(user)
    try:
        expect(user.get_by_text("must approve it")).to_be_visible(timeout=15_000)
    except AssertionError:
        ARTIFACTS.mkdir(exist_ok=True)
        user.screenshot(path=str(ARTIFACTS / "register-failed.png"), full_page=True)
        raise

    login(user, url, "dave", "Dave-pass-123", refused=True)
    expect(user.get_by_text("waiting for an administrator's approval")).to_be_visible()

    admin_ctx = browser.new_context()
    admin = admin_ctx.new_page()
    login(admin, url, "admin", ADMIN_PASSWORD)
    _signed_in_as(admin, "admin")
    admin.get_by_role("link", name="Admin").click()
    wait_idle(admin)
    _admin_select_user(admin, "dave")
    admin.get_by_role("button", name="Approve").click()
    wait_idle(admin)
    expect(admin.get_by_text("dave approved.")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    admin.screenshot(path=str(ARTIFACTS / "admin-users.png"), full_page=True)

    login(user, url, "dave", "Dave-pass-123")
    _signed_in_as(user, "dave")
    expect(user.get_by_role("link", name="Admin")).to_have_count(0)  # not in a user's navigation
    copied = _auth_cookies(user_ctx, user)

    thief = browser.new_context()
    thief.add_cookies(copied)
    stolen = thief.new_page()
    stolen.goto(url)
    wait_idle(stolen)
    _signed_in_as(stolen, "dave")  # the cookie works while dave is active
    thief.close()

    _admin_select_user(admin, "dave")
    admin.get_by_role("button", name="Disable").click()
    wait_idle(admin)
    expect(admin.get_by_text("dave disabled")).to_be_visible()

    replay = browser.new_context()
    replay.add_cookies(copied)
    page = replay.new_page()
    page.goto(url)
    wait_idle(page)
    # The refused cookie is deleted by a component, which reruns the page: wait for that run's single form.
    expect(page.get_by_role("button", name="Log in")).to_have_count(1, timeout=15_000)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_text("Signed in as dave")).to_have_count(0)

    user.reload()  # dave's own open browser is signed out as well
    wait_idle(user)
    expect(user.get_by_text("Signed in as dave")).to_have_count(0)
    for ctx in (replay, admin_ctx, user_ctx):
        ctx.close()


def test_user_cannot_open_admin_page_by_url(live_server: LiveServer, browser: Browser) -> None:
    add_live_user(live_server, "erin", "Erin-pass-123")
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, live_server.url, "erin", "Erin-pass-123")
    _signed_in_as(page, "erin")
    page.goto(f"{live_server.url}/admin")
    wait_idle(page)
    expect(page.get_by_role("heading", name="Admin")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    ctx.close()
