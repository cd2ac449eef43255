"""Browser (issue 21, row 4): a hostile reply makes Chromium load no image, however Streamlit's renderer reads it.

The first test streams such a reply through the chat in one-character deltas and reloads it from the database; the
second renders a fixed set of generated replies, as Parley shows them, with st.markdown in a bare Streamlit app, so a
Streamlit or markdown-it upgrade that changes what counts as an image shows up here."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from core.ui.chat.markdown import images_as_links
from tests.browser.conftest import ADMIN_PASSWORD, LiveServer, _free_port, _wait_healthy, login, wait_idle
from tests.fakes.provider_server import FakeProviderServer, Reply
from tests.ui.test_markdown_safety import _FRAGMENTS, EVIL, SHOWN_AS_LINKS

pytestmark = pytest.mark.browser

EVIL_HOST = re.compile(r"https?://(?:evil|e)\.test/")
HOSTILE = "\n\n".join([reply.replace(EVIL, f"http://evil.test/{n}.png") for n, (reply, _) in enumerate(SHOWN_AS_LINKS)]
                      + ['<img src="http://evil.test/html.png">', "Done: ![last](http://evil.test/last.png)"])


@pytest.fixture(scope="module")
def server_env(fake_openai: FakeProviderServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": fake_openai.openai_url,
            "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__DEFAULT_PROVIDER": "openai",
            "PARLEY_CHAT__FALLBACK": "[]", "PARLEY_CHAT__DEFAULT_MAX_TOKENS": "4000"}


def _watch(page: Page) -> list[str]:
    """Every request the page makes to the hostile hosts (answered with a network error, never sent out)."""
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if EVIL_HOST.match(request.url) else None)
    page.route(EVIL_HOST, lambda route: route.abort())
    return fetched


def _external_images(page: Page) -> list[str]:
    sources = page.locator("img").evaluate_all("images => images.map(i => i.getAttribute('src') || '')")
    return [src for src in sources if EVIL_HOST.match(src)]


def test_r2_row04_a_hostile_reply_loads_no_image(live_server: LiveServer, browser: Browser,
                                                 fake_openai: FakeProviderServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    fetched = _watch(page)
    login(page, live_server.url, "admin", ADMIN_PASSWORD)
    fake_openai.enqueue("openai", Reply(chunks=list(HOSTILE), tokens_out=len(HOSTILE)))
    page.get_by_test_id("stChatInputTextArea").fill("Summarise the page.")
    page.keyboard.press("Enter")
    wait_idle(page, timeout=90_000)
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply).to_contain_text("Done: last")
    expect(reply.locator("a[href='http://evil.test/last.png']")).to_have_count(1)  # shown as a link instead
    assert _external_images(page) == [] and fetched == []

    page.reload()  # the stored reply, rendered again
    wait_idle(page)
    expect(page.get_by_test_id("stChatMessage").nth(1)).to_contain_text("Done: last")
    assert _external_images(page) == [] and fetched == []
    page.close()


_HARNESS = """
import json, os
import streamlit as st
for text in json.load(open(os.environ["CASES"]))[st.query_params.get("mode", "shown")]:
    st.markdown(text)
st.markdown("ALL-RENDERED")
"""


def _generated(count: int = 300) -> list[str]:
    generator = random.Random(21)  # fixed: the same replies every run
    replies = ["".join(generator.choice(_FRAGMENTS) for _ in range(generator.randint(2, 30))) for _ in range(count)]
    return [text.replace("http://e.test/i.png", f"http://e.test/{n}.png") for n, text in enumerate(replies)]


@pytest.fixture(scope="module")
def bare_streamlit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Streamlit app rendering generated hostile replies with st.markdown: as they are (?mode=raw) and as Parley
    shows them (?mode=shown)."""
    folder = tmp_path_factory.mktemp("markdown")
    replies = _generated()
    (folder / "cases.json").write_text(json.dumps({"raw": replies, "shown": [images_as_links(r) for r in replies]}))
    (folder / "app.py").write_text(_HARNESS)
    port, log = _free_port(), folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")} | {"CASES": str(folder / "cases.json")}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(folder / "app.py"), "--server.port",
                                 str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                                cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _render(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_text("ALL-RENDERED").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # math and emoji plugins load lazily: let every element settle


def test_r2_row04_generated_hostile_replies_load_no_image(bare_streamlit: str, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    fetched = _watch(page)
    _render(page, f"{bare_streamlit}/?mode=raw")  # the harness sees images: as they are, the replies hold many
    assert len(set(fetched)) > 40 and len(_external_images(page)) > 40
    fetched.clear()
    _render(page, f"{bare_streamlit}/?mode=shown")
    assert _external_images(page) == [] and fetched == []
    page.close()
