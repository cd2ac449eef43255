"""One meter: requests from the chat and from the API count in the very same per-user windows —
in memory within one process, and in Redis across two processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from sqlmodel import Session, select

from core.chat import ConversationManager, TurnOptions
from core.config import PROJECT_ROOT, get_settings
from core.errors import RateLimited
from core.limiter import limiter_storage
from core.models import LimitPolicyUpdate, UsageEvent
from core.usage import set_user_limits
from tests.api.conftest import _free_port
from tests.conftest import REDIS_URL
from tests.fakes.provider_server import FakeProviderServer, Reply

OPTIONS = TurnOptions(provider="openai", model="gpt-4o-mini")
HELLO = [{"role": "user", "content": "Hi"}]


def _chat(manager: ConversationManager, user_id: int) -> None:
    turn = manager.send(user_id=user_id, conversation_id=None, text="Hi", options=OPTIONS)
    for _ in turn.deltas():
        pass
    turn.close()


def _ten_per_minute(session: Session, admin_id: int, alice: int) -> None:
    set_user_limits(session=session, actor_id=admin_id, user_id=alice,
                    limits_in=LimitPolicyUpdate(requests_per_minute=10, requests_per_day=0))


def _split_ten(manager: ConversationManager, client: openai.OpenAI, provider: FakeProviderServer, alice: int) -> None:
    provider.enqueue("openai", *[Reply(chunks=["ok"]) for _ in range(10)])
    for i in range(10):  # alternate: five chat turns, five API requests
        if i % 2:
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        else:
            _chat(manager, alice)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    with pytest.raises(RateLimited):
        _chat(manager, alice)


def test_chat_and_api_share_ten_slots_in_memory(api, token, provider, session, alice, admin_id) -> None:
    _ten_per_minute(session, admin_id, alice)
    client = openai.OpenAI(api_key=token, base_url=api.base_url, max_retries=0)
    _split_ten(ConversationManager(), client, provider, alice)
    sources = [e.source for e in session.exec(select(UsageEvent).where(UsageEvent.status == "complete"))]
    assert sorted(sources) == ["api"] * 5 + ["ui"] * 5


@pytest.fixture
def server_process(api_env, engine, database_url, token, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A second process: the real server (streamlit run server.py) on the same database and Redis."""
    port = _free_port()
    env = {**os.environ, "PARLEY_DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
           "PARLEY_API_TOKEN_KEY": get_settings().api_token_key.get_secret_value()}
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port), "--server.address",
           "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(log.read_text()[-3000:]) from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()  # only the process this test started
        proc.wait(timeout=20)


@pytest.mark.skipif(not REDIS_URL, reason="PARLEY_TEST_REDIS_URL not set")
def test_chat_and_api_share_ten_slots_across_two_processes_on_redis(server_process, token, provider, session, alice,
                                                                      admin_id, monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)  # this process's chat counts in the same Redis
    get_settings.cache_clear()
    limiter_storage(REDIS_URL).reset()
    _ten_per_minute(session, admin_id, alice)
    client = openai.OpenAI(api_key=token, base_url=server_process, max_retries=0)
    _split_ten(ConversationManager(), client, provider, alice)
