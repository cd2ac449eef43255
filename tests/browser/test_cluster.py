"""The team topology for real: nginx in front of two instances on PostgreSQL and Redis (deploy/cluster.py).

A browser logs in and chats through nginx; the instance serving a reply is killed with SIGKILL mid-stream and the
browser carries on on the other one with the partial reply kept; limits hold across instances; SIGTERM drains.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import redis
from playwright.sync_api import Browser, expect

from core.config import PROJECT_ROOT
from deploy.cluster import Cluster, Instance
from tests.browser.conftest import ADMIN_PASSWORD, ARTIFACTS, login, wait_idle
from tests.conftest import PG_URL, REDIS_URL, create_pg_database, drop_pg_database
from tests.fakes.provider_server import FakeProviderServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not (PG_URL and REDIS_URL), reason=(
    "the cluster runs on PostgreSQL and Redis: set PARLEY_TEST_DATABASE_URL and PARLEY_TEST_REDIS_URL"))]

REDIS_DB = 7  # this module's own Redis database, emptied before the cluster starts
WORDS = [f"word{i:03d} " for i in range(120)]
RATE = 10  # the fake provider's words per second
GRACE = 20


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, provider: FakeProviderServer) -> Iterator[Cluster]:
    database = create_pg_database()
    redis_url = REDIS_URL.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {"PARLEY_ADMIN_PASSWORD": ADMIN_PASSWORD, "PARLEY_LOGIN__SLEEP_SECONDS": "0",
           "OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": provider.openai_url,
           "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__DEFAULT_PROVIDER": "openai",
           "PARLEY_CHAT__FALLBACK": "[]", "PARLEY_CACHE__ENABLED": "false",
           "PARLEY_CHAT__STREAM_STALE_SECONDS": "4", "PARLEY_DRAIN_GRACE_SECONDS": str(GRACE),
           "PARLEY_LIMITS__USER__REQUESTS_PER_MINUTE": "10"}
    topology = Cluster(database, redis_url, tmp_path_factory.mktemp("cluster") / "data", env=env)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
        drop_pg_database(database)


def _in_cluster(cluster: Cluster, code: str) -> str:
    """Run code in a process configured like the instances (their database, secrets and settings)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=cluster.instance_env(),
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def api_token(cluster: Cluster) -> str:
    return _in_cluster(cluster, """
from core.api.tokens import create_token
from core.db import session_scope
from tests.conftest import add_user
with session_scope() as session:
    uid = add_user(session, "dev", "Dev-pass-1234")
    print(create_token(session=session, user_id=uid, name="cluster test").token)
""")


@pytest.fixture(scope="module")
def admin_token(cluster: Cluster) -> str:
    return _in_cluster(cluster, """
from sqlmodel import select
from core.api.tokens import create_token
from core.db import session_scope
from core.models import User
with session_scope() as session:
    admin = session.exec(select(User).where(User.username == "admin")).one()
    print(create_token(session=session, user_id=admin.id, name="drain test").token)
""")


def _serving(cluster: Cluster) -> Instance:
    """The instance writing a reply now (its /readyz counts the replies in flight)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for instance in cluster.instances:
            if httpx.get(f"{instance.url}/readyz", timeout=5).json().get("in_flight"):
                return instance
        time.sleep(0.1)
    raise AssertionError("no instance is writing a reply")


def test_compose_file_is_valid_and_lists_the_shared_secrets(tmp_path: Path) -> None:
    """docker-compose validates the file (no daemon needed) as an operator would run it: beside a filled-in .env."""
    example = (PROJECT_ROOT / ".env.example").read_text()
    for secret in ("PARLEY_COOKIE_KEY", "PARLEY_FERNET_KEYS", "PARLEY_API_TOKEN_KEY"):  # every instance shares them
        assert f"\n{secret}=" in example
    (tmp_path / "compose.yaml").write_text((PROJECT_ROOT / "compose.yaml").read_text())
    cmd = ["docker-compose", "-f", str(tmp_path / "compose.yaml"), "config"]
    (tmp_path / ".env").write_text(example)  # POSTGRES_PASSWORD left empty: refused, naming it
    missing = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                             env={k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"})
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD" in missing.stderr
    (tmp_path / ".env").write_text(example.replace("POSTGRES_PASSWORD=", "POSTGRES_PASSWORD=pw"))
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rendered = done.stdout
    for service in ("nginx:", "parley1:", "parley2:", "postgres:", "redis:", "chroma:", "backup:"):
        assert f"  {service}" in rendered
    assert "image: postgres:16" in rendered and "image: redis:7" in rendered
    assert rendered.count("condition: service_healthy") >= 6 and "/readyz" in rendered
    assert "CHROMA_URL: http://chroma:8000" in rendered
    assert "DATABASE_URL: postgresql://parley:pw@postgres:5432/parley" in rendered
    assert "parley.conf.template:/etc/nginx/templates/parley.conf.template" in rendered


def test_limits_hold_across_both_instances(cluster: Cluster, api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    statuses = []
    for n in range(10):  # alternately on each instance: one shared counter in Redis
        instance = cluster.instances[n % 2]
        statuses.append(httpx.post(f"{instance.url}/v1/chat/completions", json=body, headers=headers,
                                   timeout=30).status_code)
    assert statuses == [200] * 10
    eleventh = httpx.post(f"{cluster.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert eleventh.status_code == 429 and "Retry-After" in eleventh.headers


def test_sigterm_drains_without_cutting_a_reply_short(cluster: Cluster, provider: FakeProviderServer,
                                                      admin_token: str) -> None:
    instance = cluster.instances[0]
    assert instance.proc is not None
    provider.enqueue("openai", Reply(chunks=WORDS[:40], chunk_delay=1 / RATE))  # 4 s, within the grace period
    received: list[str] = []
    admin_headers = {"Authorization": f"Bearer {admin_token}"}

    def stream() -> None:
        body = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "count"}]}
        with httpx.stream("POST", f"{instance.url}/v1/chat/completions", json=body, headers=admin_headers,
                          timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("data: {") and '"content":"' in line:
                    received.append(line.split('"content":"', 1)[1].split('"', 1)[0])

    reader = threading.Thread(target=stream)
    reader.start()
    deadline = time.monotonic() + 10
    while len(received) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(received) >= 5
    instance.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert httpx.get(f"{instance.url}/readyz", timeout=5).status_code == 503
    assert httpx.get(f"{instance.url}/livez", timeout=5).status_code == 200
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "new"}]}
    refused = httpx.post(f"{instance.url}/v1/chat/completions", json=body, headers=admin_headers, timeout=10)
    assert refused.status_code == 503 and "restarting" in refused.json()["error"]["message"]
    assert refused.headers.get("Retry-After")
    reader.join(timeout=30)
    assert "".join(received) == "".join(WORDS[:40])  # the reply in flight finished whole
    assert instance.proc.wait(timeout=GRACE + 15) is not None  # then the instance stopped by itself
    assert httpx.get(f"{cluster.url}/readyz", timeout=5).status_code == 200  # nginx: the other instance
    cluster.restart(instance)


def test_chat_through_nginx_survives_losing_the_serving_instance(cluster: Cluster, provider: FakeProviderServer,
                                                                 browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cluster.url, "admin", ADMIN_PASSWORD)
    provider.enqueue("openai", Reply(chunks=WORDS, chunk_delay=1 / RATE))  # 12 s of reply
    page.get_by_test_id("stChatInputTextArea").fill("Count slowly, please.")
    page.keyboard.press("Enter")
    messages = page.get_by_test_id("stChatMessage")
    expect(messages.nth(1)).to_contain_text("word030", timeout=20_000)
    serving = _serving(cluster)
    assert serving.proc is not None
    shown = messages.nth(1).inner_text().count("word")
    serving.proc.send_signal(signal.SIGKILL)  # the machine is gone: no goodbye, no final write
    serving.proc.wait()

    # The browser reconnects through nginx to the other instance, the cookie logs the user in again and the
    # conversation is read back from the database: its reply is marked as being written (or already cut off),
    # which the page that was streaming never showed.
    reconnected = page.get_by_text("Being written…").or_(page.get_by_text("the server writing this reply stopped"))
    expect(reconnected.first).to_be_visible(timeout=60_000)
    expect(messages.first).to_contain_text("Count slowly, please.")
    time.sleep(5)  # the surviving instance's sweep: a reply nobody flushed for 4 s is cut off
    page.reload()
    wait_idle(page)
    expect(messages).to_have_count(2, timeout=20_000)
    expect(page.get_by_text("the server writing this reply stopped")).to_be_visible(timeout=20_000)
    kept = messages.nth(1).inner_text()
    assert "word000 word001" in kept and "word119" not in kept
    lost = shown - kept.count("word")
    assert lost <= RATE * 1.5, f"{lost} words lost (shown {shown}, kept {kept.count('word')})"  # about 1 s
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cluster-interrupted.png"))
    page.close()
    cluster.restart(serving)
