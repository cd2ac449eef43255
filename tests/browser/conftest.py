"""A live Parley server on a free port with a temporary data directory, and the system Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from core.config import PROJECT_ROOT
from tests.fakes.provider_server import FakeProviderServer

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ADMIN_PASSWORD = "Admin-pass-123"
# Chromium must not reach out: this machine's network is closed.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()[-3000:]}")


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> tuple[LiveServer, subprocess.Popen[bytes]]:
    port = _free_port()
    data_dir = tmp / "data"
    log = tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") or k.startswith("PARLEY_TEST_")}
    env.update({"PARLEY_DATA_DIR": str(data_dir), "PARLEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "PARLEY_LOGIN__SLEEP_SECONDS": "0", "PARLEY_REGISTRATION": "approval",
                "PARLEY_CATALOG__DISCOVER_EVERY_HOURS": "0"})
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log)
    return LiveServer(url=url, data_dir=data_dir, log=log), proc


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeProviderServer]:
    """The OpenAI wire protocol on a local port, for a module's server to talk to."""
    server = FakeProviderServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Extra environment for this module's server (override in a test module)."""
    return {}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]) -> Iterator[LiveServer]:
    server, proc = start_server(tmp_path_factory.mktemp("live"), server_env)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:  # type: ignore[type-arg]
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("System Chromium not found: `make test` installs the Debian package 'chromium'.")
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_ARGS}


IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


def wait_idle(page: Page, timeout: float = 30_000, settle_ms: int = 400) -> None:
    """Wait until Streamlit has finished running and stays idle for settle_ms.

    Components (the authenticator's cookie manager) report back after they load and trigger
    one more run; acting during that run can lose a click, so idle must hold for a moment.
    """
    deadline = time.monotonic() + timeout / 1000
    page.wait_for_timeout(150)
    while time.monotonic() < deadline:
        page.wait_for_selector(IDLE, timeout=timeout)
        page.wait_for_timeout(settle_ms)
        if page.locator(IDLE).count():
            return
    raise AssertionError("Streamlit did not settle")


def login(page: Page, url: str, username: str, password: str, *, refused: bool = False) -> None:
    """Log in and wait for the navigation; a submit the page lost while it was still loading is sent again
    (streamlit-authenticator with st.navigation can need two submits: its issues #184, #204).
    refused=True: the login is expected to fail (submit once, no waiting for the navigation)."""
    page.goto(url)
    wait_idle(page)
    if refused:
        page.get_by_label("Username").first.fill(username)
        page.get_by_label("Password", exact=True).first.fill(password)
        page.get_by_role("button", name="Log in").click()
        wait_idle(page)
        return
    form = page.locator("input[autocomplete=username]")  # the login tab's field, not the sign-up tab's
    try:
        for _ in range(2):
            form.fill(username)
            page.locator("input[autocomplete=current-password]").fill(password)
            page.get_by_role("button", name="Log in").click()
            wait_idle(page)
            try:
                page.wait_for_selector("[data-testid=stSidebarNav]", timeout=20_000)
                return
            except PlaywrightTimeoutError:
                if not page.get_by_role("button", name="Log in").count():
                    raise
    except Exception:  # what the page showed, for the failure report
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"login-failed-{username}.png"), full_page=True)
        (ARTIFACTS / f"login-failed-{username}.html").write_text(page.content())
        raise
    raise AssertionError(f"{username} could not log in")


def add_live_user(server: LiveServer, username: str, password: str) -> None:
    """Create an active user directly in the live server's database."""
    from sqlmodel import Session

    from core.db import make_engine
    from tests.conftest import add_user

    engine = make_engine(f"sqlite:///{server.data_dir / 'parley.db'}")
    with Session(engine) as session:
        add_user(session, username, password)
    engine.dispose()
