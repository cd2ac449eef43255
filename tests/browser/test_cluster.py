"""The team topology for real: nginx in front of two portal instances and two API servers (`python -m core.api`,
which nginx sends /v1/ to) on PostgreSQL and Redis (deploy/cluster.py).

A browser logs in and chats through nginx; the instance serving a reply is killed with SIGKILL mid-stream and the
browser carries on on the other one with the partial reply kept; limits hold across the portals and the API
servers; SIGTERM drains; a rolling restart (SIGTERM an API server, start it again, then a portal instance, then the
other API server and the other portal) shows API clients and a browser no error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select

from core.config import PROJECT_ROOT
from core.db import make_engine
from core.models import Message, MessageStatus, UsageEvent
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
           "PARLEY_CATALOG__DISCOVER_EVERY_HOURS": "0",
           "OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": provider.openai_url,
           "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__DEFAULT_PROVIDER": "openai",
           "PARLEY_CHAT__FALLBACK": "[]", "PARLEY_CACHE__ENABLED": "false",
           "PARLEY_CHAT__STREAM_STALE_SECONDS": "4", "PARLEY_DRAIN_GRACE_SECONDS": str(GRACE),
           "PARLEY_LIMITS__USER__REQUESTS_PER_MINUTE": "10",
           "PARLEY_LIMITS__ADMINS_EXEMPT": "true"}  # the rolling restart's API load runs as the admin
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


def _cluster_rows(cluster: Cluster, query):  # type: ignore[no-untyped-def]
    """Read the cluster's database from this process (its rows only: no settings, no secrets needed)."""
    engine = make_engine(make_url(cluster.database_url).set(drivername="postgresql+psycopg")
                         .render_as_string(hide_password=False))
    try:
        with Session(engine) as session:
            return session.exec(query).all()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def tokens(cluster: Cluster) -> dict[str, str]:
    """Personal API tokens, made in one process configured like the instances: a user's ("dev") and the admin's."""
    return dict(json.loads(_in_cluster(cluster, """
import json
from sqlmodel import select
from core.api.tokens import create_token
from core.db import session_scope
from core.models import User
from tests.conftest import add_user
with session_scope() as session:
    uid = add_user(session, "dev", "Dev-pass-1234")
    admin = session.exec(select(User).where(User.username == "admin")).one()
    print(json.dumps({"dev": create_token(session=session, user_id=uid, name="cluster test").token,
                      "admin": create_token(session=session, user_id=admin.id, name="drain test").token}))
""")))


@pytest.fixture(scope="module")
def api_token(tokens: dict[str, str]) -> str:
    return tokens["dev"]


@pytest.fixture(scope="module")
def admin_token(tokens: dict[str, str]) -> str:
    return tokens["admin"]


def _logged_in_for_good(page: Page) -> None:
    """Wait until the browser holds the login cookie (written by a component after the login): the cookie is what
    logs it in again on the other instance after a reconnect."""
    deadline = time.monotonic() + 30
    while not any(c["name"] == "parley_auth" for c in page.context.cookies()):
        assert time.monotonic() < deadline, "the login cookie was never set"
        page.wait_for_timeout(100)


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
    for service in ("nginx:", "parley1:", "parley2:", "api1:", "api2:", "postgres:", "redis:", "chroma:", "backup:"):
        assert f"  {service}" in rendered
    # /v1/ goes to the API servers, which run the API alone and are checked on their own port.
    assert "PARLEY_API_1: api1:8000" in rendered and "PARLEY_API_2: api2:8000" in rendered
    assert rendered.count("- core.api") == 2 and "http://127.0.0.1:8000/readyz" in rendered
    assert "image: postgres:16" in rendered and "image: redis:7" in rendered
    assert rendered.count("condition: service_healthy") >= 8 and "/readyz" in rendered
    assert "CHROMA_URL: http://chroma:8000" in rendered
    assert "DATABASE_URL: postgresql://parley:pw@postgres:5432/parley" in rendered
    assert "parley.conf.template:/etc/nginx/templates/parley.conf.template" in rendered
    # The instances believe X-Forwarded-For from nginx's fixed address only (issue 21, #7), never from anyone.
    assert rendered.count("FORWARDED_ALLOW_IPS: 172.31.254.10") >= 4 and "FORWARDED_ALLOW_IPS: '*'" not in rendered
    assert "ipv4_address: 172.31.254.10" in rendered and "PARLEY_PROXY_ADDRESS: 172.31.254.10" in rendered


def test_limits_hold_across_the_portals_and_the_api_servers(cluster: Cluster, api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    statuses = []
    servers = cluster.instances + cluster.apis
    for n in range(10):  # in turn on each portal and each API server: one shared counter in Redis
        statuses.append(httpx.post(f"{servers[n % 4].url}/v1/chat/completions", json=body, headers=headers,
                                   timeout=30).status_code)
    assert statuses == [200] * 10
    eleventh = httpx.post(f"{cluster.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert eleventh.status_code == 429 and "Retry-After" in eleventh.headers
    served = [_served_by(line) for line in _access_log(cluster) if '"POST /v1/chat/completions' in line]
    assert served and served[-1] in {f"127.0.0.1:{api.port}" for api in cluster.apis}  # nginx: an API server


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
    assert instance.proc.wait(timeout=GRACE + 15) == 0  # then the instance stopped by itself, cleanly
    assert httpx.get(f"{cluster.url}/readyz", timeout=5).status_code == 200  # nginx: the other instance
    cluster.restart(instance)


def test_chat_through_nginx_survives_losing_the_serving_instance(cluster: Cluster, provider: FakeProviderServer,
                                                                 browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cluster.url, "admin", ADMIN_PASSWORD)
    _logged_in_for_good(page)
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
    # The surviving instance's sweep: a reply nobody flushed for 4 s is cut off.
    streaming = select(func.count()).select_from(Message).where(Message.status == MessageStatus.streaming)
    deadline = time.monotonic() + 30
    while _cluster_rows(cluster, streaming)[0]:
        assert time.monotonic() < deadline, "the reply of the lost instance was never cut off"
        time.sleep(0.2)
    page.reload()
    wait_idle(page)
    expect(messages).to_have_count(2, timeout=20_000)
    expect(page.get_by_text("the server writing this reply stopped")).to_be_visible(timeout=20_000)
    kept = messages.nth(1).inner_text()
    assert "word000 word001" in kept and "word119" not in kept
    lost = shown - kept.count("word")
    assert lost <= RATE * 1.5, f"{lost} words lost (shown {shown}, kept {kept.count('word')})"  # about 1 s
    # The lost call is charged once, by the instance that swept its row (issue 21, row 23): its prompt and the
    # text kept, estimated.
    charged = [(e.status, e.estimated, e.tokens_out)
               for e in _cluster_rows(cluster, select(UsageEvent).where(UsageEvent.error_kind == "lost"))]
    assert len(charged) == 1 and charged[0][:2] == ("interrupted", True) and charged[0][2] > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cluster-interrupted.png"))
    page.close()
    cluster.restart(serving)


def _access_log(cluster: Cluster) -> list[str]:
    assert cluster.run_dir is not None
    return (cluster.run_dir / "access.log").read_text().splitlines()


def _served_by(line: str) -> str:
    """The address that answered a logged request (the last one nginx tried)."""
    return line.split("upstream=", 1)[1].split(" status=", 1)[0].replace(" : ", ", ").split(", ")[-1]


def _instance_for_key(cluster: Cluster, key: str, api: bool = False) -> Instance:
    """The portal instance (or API server) nginx pins a client with this affinity cookie to (read from nginx's
    access log). An API server is asked for /v1/models without a token: refused, but logged with its address."""
    seen = len(_access_log(cluster))
    path, servers = ("/v1/models", cluster.apis) if api else ("/livez", cluster.instances)
    httpx.get(f"{cluster.url}{path}", headers={"Cookie": f"parley_lb={key}"}, timeout=10)
    deadline = time.monotonic() + 10  # nginx logs a request once it has answered it: the line may come just after
    while time.monotonic() < deadline:
        for line in _access_log(cluster)[seen:]:
            if f'"GET {path}' in line and line.endswith(f"lb={key}"):
                address = _served_by(line)
                return next(i for i in servers if address == f"127.0.0.1:{i.port}")
        time.sleep(0.05)
    raise AssertionError(f"nginx logged no request with lb={key}")


def _key_pinned_to(cluster: Cluster, instance: Instance, api: bool = False) -> str:
    return next(key for key in (f"pin{n}" for n in range(64)) if _instance_for_key(cluster, key, api) is instance)


def _wait_until_both_take_requests(cluster: Cluster) -> None:
    """nginx skips a server for fail_timeout after it failed (a restart): wait until both rings have both back."""
    deadline = time.monotonic() + 60
    for api, servers in ((False, cluster.instances), (True, cluster.apis)):
        while {_instance_for_key(cluster, f"pin{n}", api).name for n in range(16)} != {i.name for i in servers}:
            assert time.monotonic() < deadline, "nginx did not take both servers back"
            time.sleep(1)


@dataclass
class ApiLoad:
    """API clients that keep sending chat completions through nginx: fresh ones (no cookie, spread by nginx) and
    ones pinned by the sticky cookie to `pinned_key`'s instance (every third of those streamed)."""

    url: str
    token: str
    pinned_key: str
    sent: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    retried: int = 0  # refusals by a restarting instance, sent again after Retry-After
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> ApiLoad:
        self.threads = [threading.Thread(target=self._client, args=(pinned,), daemon=True) for pinned in (False, True)]
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _client(self, pinned: bool) -> None:
        with httpx.Client(timeout=120) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                streamed = pinned and n % 3 == 0
                kind = ("pinned" if pinned else "fresh") + (" streamed" if streamed else "")
                headers = {"Authorization": f"Bearer {self.token}"}
                if pinned:
                    headers["Cookie"] = f"parley_lb={self.pinned_key}"
                client.cookies.clear()  # a fresh client stays fresh: never keep nginx's affinity cookie
                body = {"model": "openai/gpt-4o-mini", "stream": streamed,
                        "messages": [{"role": "user", "content": f"{kind} {n}"}]}
                try:
                    problem = self._send(client, body, headers, streamed)
                    if problem and problem.startswith("503") and "server_restarting" in problem:
                        # Nothing was done (the instance refused before any work): a client that honours
                        # Retry-After, as the OpenAI and Anthropic SDKs do, sends it again once.
                        self.retried += 1
                        time.sleep(1)
                        problem = self._send(client, body, headers, streamed)
                except httpx.HTTPError as exc:
                    problem = repr(exc)
                self.sent[kind] += 1
                if problem:
                    self.errors.append(f"{kind} #{n}: {problem}")
                time.sleep(0.2)

    def _send(self, client: httpx.Client, body: dict[str, object], headers: dict[str, str],
              streamed: bool) -> str | None:
        url = f"{self.url}/v1/chat/completions"
        if not streamed:
            response = client.post(url, json=body, headers=headers)
            if response.status_code != 200:
                return f"{response.status_code} {response.text[:200]}"
            return None if response.json()["choices"][0]["message"]["content"] else "empty reply"
        with client.stream("POST", url, json=body, headers=headers) as response:
            lines = list(response.iter_lines())
            if response.status_code != 200:
                return f"{response.status_code} {' '.join(lines)[:200]}"
            return None if lines and "data: [DONE]" in lines and '"content":"' in "".join(lines) else "cut short"


def _chat_turn(page: Page, text: str) -> None:
    """Send one chat message and see its reply; the page may first have to reconnect (to another instance)."""
    connected = page.locator("[data-testid=stApp][data-test-connection-state=CONNECTED]")
    expect(connected).to_have_count(1, timeout=60_000)
    wait_idle(page)
    messages = page.get_by_test_id("stChatMessage")
    before = messages.count()
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled(timeout=60_000)
    box.fill(text)
    page.keyboard.press("Enter")
    expect(messages).to_have_count(before + 2, timeout=60_000)
    expect(messages.nth(before + 1)).to_contain_text("fake", timeout=60_000)
    wait_idle(page)


def _stop_and_start(cluster: Cluster, instance: Instance, load: ApiLoad) -> dict[str, object]:
    """SIGTERM, wait for its clean exit, start it again while the API load goes on; its "drained" record."""
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGTERM)
    assert instance.proc.wait(timeout=GRACE + 30) == 0  # drained, then a clean exit (issue 21, #25)
    drained = [json.loads(line) for line in instance.log.read_text().splitlines() if '"event": "drained"' in line]
    time.sleep(2)  # requests for it meet a closed port for a while, as during a real restart
    cluster.restart(instance)
    sent = sum(load.sent.values())
    deadline = time.monotonic() + 20  # and the load goes on with it back
    while sum(load.sent.values()) < sent + 4:
        assert time.monotonic() < deadline, "the API load stopped"
        time.sleep(0.1)
    return dict(drained[-1])


def _restart_api_gracefully(cluster: Cluster, server: Instance, load: ApiLoad, pinned_key: str) -> None:
    """An API server, while the API load goes on (part of it pinned to this server): every request in flight
    finishes, the ones it refused while draining go to the other server."""
    seen = len(_access_log(cluster))
    load.pinned_key = pinned_key
    deadline = time.monotonic() + 20  # some pinned requests reach it while it serves
    while sum(1 for line in _access_log(cluster)[seen:] if '"POST /v1/' in line and line.endswith(f"lb={pinned_key}")
              and " 200 " in line and _served_by(line) == f"127.0.0.1:{server.port}") < 2:
        assert time.monotonic() < deadline, "no pinned request reached the API server"
        time.sleep(0.1)
    drained = _stop_and_start(cluster, server, load)
    assert drained["still_running"] == 0, drained  # every reply finished within the grace period


def _restart_portal_gracefully(cluster: Cluster, instance: Instance, load: ApiLoad) -> None:
    """A portal instance holding the browser's session: the drain closes the idle session (its browser reconnects
    to the other instance), nothing is cut by the exit."""
    drained = _stop_and_start(cluster, instance, load)
    assert drained["still_running"] == 0 and drained["sessions_moved"] >= 1, drained


def test_rolling_restart_shows_clients_no_error(cluster: Cluster, provider: FakeProviderServer, admin_token: str,
                                                browser: Browser) -> None:
    """Issue 21, #22: during a drain nginx kept sending new requests to the draining instance (5 of 19 fresh API
    requests and 28 of 29 pinned ones got 503). Now: zero client-visible errors across restarts of both API servers
    and both portal instances, a reply in flight finishes, the browser's session moves and its page keeps working,
    and no request reaches a provider twice."""
    for instance in cluster.instances + cluster.apis:  # an earlier test may have left one stopped, or restarted it
        if instance.proc is None or instance.proc.poll() is not None:
            cluster.restart(instance)
    _wait_until_both_take_requests(cluster)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    login(page, cluster.url, "admin", ADMIN_PASSWORD)
    _logged_in_for_good(page)
    _chat_turn(page, "Before the restarts.")
    browser_key = next(c["value"] for c in page.context.cookies() if c["name"] == "parley_lb")
    first = _instance_for_key(cluster, browser_key)  # the instance holding the browser's session goes first
    second = next(i for i in cluster.instances if i is not first)
    first_api = _instance_for_key(cluster, browser_key, api=True)  # the API server its cookie pins API calls to
    second_api = next(i for i in cluster.apis if i is not first_api)
    second_key = _key_pinned_to(cluster, second_api, api=True)  # while both are up: nginx's ring, not a failover

    # A slow streamed reply on the first API server, in flight when it is told to stop.
    provider.enqueue("openai", Reply(chunks=WORDS[:80], chunk_delay=1 / RATE))  # 8 s, within the grace period
    received: list[str] = []

    def slow_stream() -> None:
        body = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "slow"}]}
        headers = {"Authorization": f"Bearer {admin_token}", "Cookie": f"parley_lb={browser_key}"}
        with httpx.stream("POST", f"{cluster.url}/v1/chat/completions", json=body, headers=headers,
                          timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: {") and '"content":"' in line:
                    received.append(line.split('"content":"', 1)[1].split('"', 1)[0])

    streamer = threading.Thread(target=slow_stream)
    streamer.start()
    deadline = time.monotonic() + 20
    while len(received) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(received) >= 3
    calls_before = sum(1 for call in provider.history if call.path.endswith("/chat/completions"))
    load = ApiLoad(cluster.url, admin_token, browser_key).start()
    try:
        _restart_api_gracefully(cluster, first_api, load, browser_key)
        streamer.join(timeout=30)
        assert "".join(received) == "".join(WORDS[:80])  # the reply in flight finished whole
        _restart_portal_gracefully(cluster, first, load)
        _chat_turn(page, "Between the restarts.")  # reconnected through nginx to the other instance
        # One at a time: the first ones are back in nginx's rotation before the second ones stop (nginx skips a
        # restarted server for up to fail_timeout; stopping the other meanwhile would leave it none to send to).
        _wait_until_both_take_requests(cluster)
        _restart_api_gracefully(cluster, second_api, load, second_key)
        _restart_portal_gracefully(cluster, second, load)
        _chat_turn(page, "After the restarts.")  # and back
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "cluster-rolling-restart-failed.png"))
        raise
    finally:
        load.finish()
    calls = sum(1 for call in provider.history if call.path.endswith("/chat/completions")) - calls_before
    total = sum(load.sent.values())
    print(f"rolling restart: {total} API requests {dict(load.sent)}, {len(load.errors)} errors, "
          f"{load.retried} sent again after Retry-After")
    assert load.errors == [], load.errors[:10]
    assert min(load.sent.values()) > 5 and len(load.sent) == 3
    assert calls == total + 2  # each API request and both chat turns reached the provider exactly once
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cluster-rolling-restart.png"))
    page.close()
