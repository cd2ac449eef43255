"""The shipped nginx in front of one real instance (SQLite): whose address counts, anti-framing, drain, exit code.

Issue 21: #7 (the failed-auth throttle counted nginx's address, so one client's bad tokens locked everyone out;
now nginx's X-Forwarded-For is believed from nginx only), #17 (no anti-framing header), #22 (a draining instance's
refusal is retried by nginx, and never reaches a client as 421), #25 (a drained instance exited -15, not 0).
nginx runs from deploy/cluster.py with the same template as compose; both upstream lines name the one instance.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT
from deploy.cluster import PROXY_ADDRESS, free_port, instance_command, render_site, start_nginx, wait_http
from tests.fakes.provider_server import FakeProviderServer, Reply

POLICY = "frame-ancestors 'self'; img-src 'self' data: blob:"  # no framing by other sites, no image from elsewhere

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                reason="needs Debian's nginx (make test-tools)")

FAILED_AUTH_PER_MINUTE = 3
MODEL = "openai/gpt-4o-mini"
# Each client of these tests speaks from its own loopback address (Linux answers on all of 127.0.0.0/8).
CLIENT_A, CLIENT_B, CLIENT_D = "127.0.0.11", "127.0.0.12", "127.0.0.14"
CLIENT_C = "127.0.0.1"  # the address uvicorn believes X-Forwarded-For from when FORWARDED_ALLOW_IPS is unset


@dataclass
class Site:
    instance_port: int
    nginx_port: int
    proc: subprocess.Popen[bytes]
    log: Path
    token: str


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> dict[str, object]:
        return dict(json.loads(self.body))


def call(port: int, path: str, *, source: str = "127.0.0.1", method: str = "GET", token: str | None = None,
         headers: dict[str, str] | None = None, body: dict[str, object] | None = None) -> Answer:
    """One request on a new connection from `source`, the address the server sees."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    payload = json.dumps(body).encode() if body is not None else None
    if payload is not None:
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, provider: FakeProviderServer) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_") or k.startswith("PARLEY_TEST_")}
    for name in ("DATABASE_URL", "REDIS_URL", "FORWARDED_ALLOW_IPS"):
        env.pop(name, None)
    env.update({"PARLEY_DATA_DIR": str(tmp / "data"), "PARLEY_ADMIN_PASSWORD": "Admin-pass-123",
                "PARLEY_LOGIN__SLEEP_SECONDS": "0", "FORWARDED_ALLOW_IPS": PROXY_ADDRESS,
                "PARLEY_CATALOG__DISCOVER_EVERY_HOURS": "0",
                "PARLEY_API__FAILED_AUTH_PER_MINUTE": str(FAILED_AUTH_PER_MINUTE),
                "OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": provider.openai_url,
                "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_CHAT__DEFAULT_PROVIDER": "openai",
                "PARLEY_CHAT__FALLBACK": "[]", "PARLEY_CACHE__ENABLED": "false",
                "PARLEY_DRAIN_GRACE_SECONDS": "20"})
    port, log = free_port(), tmp / "instance.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(instance_command(port), cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    run_dir = tmp / "nginx"
    run_dir.mkdir()
    nginx = None
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
        token = subprocess.run([sys.executable, "-c", """
from core.api.tokens import create_token
from core.db import session_scope
from tests.conftest import add_user
with session_scope() as session:
    uid = add_user(session, "dev", "Dev-pass-1234")
    print(create_token(session=session, user_id=uid, name="proxy test").token)
"""], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        nginx_port = free_port()
        nginx = start_nginx(run_dir, nginx_port, [f"127.0.0.1:{port}"] * 2)
        yield Site(port, nginx_port, proc, log, token)
    finally:
        for started in (nginx, proc):  # only what this fixture started, by its handle
            if started is not None and started.poll() is None:
                started.send_signal(signal.SIGTERM)
                try:
                    started.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    started.kill()
                    started.wait()


def _bad_token(n: int) -> str:
    return f"pk-made-up-{n:04d}"


def test_failed_tokens_behind_nginx_count_against_each_client_not_against_nginx(site: Site) -> None:
    statuses = [call(site.nginx_port, "/v1/models", source=CLIENT_A, token=_bad_token(n)).status
                for n in range(FAILED_AUTH_PER_MINUTE + 1)]
    assert statuses == [401] * FAILED_AUTH_PER_MINUTE + [429]  # client A guessed too often
    forged = call(site.nginx_port, "/v1/models", source=CLIENT_A, token=_bad_token(50),
                  headers={"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7"})
    assert forged.status == 429  # nginx sends A's own address, whatever A claims
    # Client B, behind the same nginx: its own count, and its valid token works.
    assert call(site.nginx_port, "/v1/models", source=CLIENT_B, token=_bad_token(99)).status == 401
    assert call(site.nginx_port, "/v1/models", source=CLIENT_B, token=site.token).status == 200


def test_a_forged_forwarded_for_sent_straight_to_an_instance_is_ignored(site: Site) -> None:
    # Client C talks to the instance itself and claims another address on every try: all count against C.
    statuses = [call(site.instance_port, "/v1/models", source=CLIENT_C, token=_bad_token(n),
                     headers={"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}"}).status
                for n in range(FAILED_AUTH_PER_MINUTE + 1)]
    assert statuses == [401] * FAILED_AUTH_PER_MINUTE + [429]
    # D, claiming to be C (who is throttled), is counted as D.
    assert call(site.instance_port, "/v1/models", source=CLIENT_D, token=_bad_token(60),
                headers={"X-Forwarded-For": CLIENT_C}).status == 401


def _static_asset(port: int) -> str:
    page = call(port, "/").body.decode()
    found = re.search(r'(?:src|href)="\.?/?(static/[^"]+\.(?:js|css))"', page)
    assert found, page[:500]
    return "/" + found.group(1)


def test_every_answer_forbids_framing_by_other_sites(site: Site) -> None:
    paths = ["/", _static_asset(site.instance_port), "/_stcore/health", "/healthz", "/readyz", "/livez", "/metrics",
             "/v1/models", "/no-such-page"]
    for port in (site.instance_port, site.nginx_port):  # the app itself, and through nginx: once each
        for path in paths:
            answer = call(port, path)
            assert answer.status < 500, (port, path, answer.status)
            assert answer.header("X-Frame-Options") == ["SAMEORIGIN"], (port, path, answer.headers)
            assert answer.header("Content-Security-Policy") == [POLICY], (port, path)


def test_nginx_own_error_pages_forbid_framing_too(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: nginx answers 502 itself
    (tmp_path / "parley.conf").write_text(render_site(f"127.0.0.1:{(port := free_port())}", [dead, dead]))
    from deploy.cluster import NGINX_MAIN, nginx_binary

    (tmp_path / "nginx.conf").write_text(NGINX_MAIN.format(run=tmp_path))
    nginx = subprocess.Popen([nginx_binary(), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g",
                              "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        answer = None
        for _ in range(100):
            try:
                answer = call(port, "/")
                break
            except OSError:
                time.sleep(0.1)
        assert answer is not None and answer.status == 502
        assert answer.header("X-Frame-Options") == ["SAMEORIGIN"]
        assert answer.header("Content-Security-Policy") == [POLICY]
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=30)


def test_sigterm_drains_refuses_through_nginx_without_421_and_exits_0(site: Site, provider: FakeProviderServer) -> None:
    """Runs last: it stops the instance."""
    provider.enqueue("openai", Reply(chunks=[f"w{i} " for i in range(30)], chunk_delay=0.1))  # 3 s
    received: list[str] = []
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "count"}]}

    def stream() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", site.nginx_port, timeout=60)
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body),
                           headers={"Authorization": f"Bearer {site.token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        for line in response:
            text = line.decode()
            if text.startswith("data: {") and '"content":"' in text:
                received.append(text.split('"content":"', 1)[1].split('"', 1)[0])
        connection.close()

    reader = threading.Thread(target=stream)
    reader.start()
    for _ in range(200):
        if len(received) >= 3:
            break
        time.sleep(0.05)
    assert len(received) >= 3
    site.proc.send_signal(signal.SIGTERM)
    for _ in range(100):
        if call(site.instance_port, "/readyz").status == 503:
            break
        time.sleep(0.05)
    # No other instance here: nginx's retry comes back to this one, and the client gets the 503, never the 421.
    refused = call(site.nginx_port, "/v1/chat/completions", method="POST", token=site.token,
                   body={"model": MODEL, "messages": [{"role": "user", "content": "new"}]})
    assert refused.status == 503 and refused.header("Retry-After")
    assert refused.json()["error"]["code"] == "server_restarting"  # type: ignore[index]
    upgrade = call(site.nginx_port, "/_stcore/stream", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert upgrade.status == 503  # no new UI session on a draining instance
    reader.join(timeout=60)
    assert "".join(received) == "".join(f"w{i} " for i in range(30))  # the reply in flight finished whole
    assert site.proc.wait(timeout=60) == 0  # a clean drain exits 0 (was -15)
    assert b"Traceback" not in site.log.read_bytes()


class _Instance(ThreadingHTTPServer):
    """A stand-in for an instance, as nginx sees one: /livez, and /v1 refused the way a draining instance refuses
    (421 to nginx's first try, 503 with Retry-After to its retry) or answered 200."""

    daemon_threads = True

    def __init__(self, name: str, draining: bool) -> None:
        self.name, self.draining, self.seen = name, draining, Counter[str]()
        instance = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(200, b"{}")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                attempt = self.headers.get("X-Parley-Attempt", "")
                instance.seen[attempt] += 1
                if instance.draining:
                    self._answer(421 if attempt == "first" else 503, b'{"error": {"code": "server_restarting"}}',
                                 {"Retry-After": "2", "Connection": "close"})
                else:
                    self._answer(200, json.dumps({"served_by": instance.name}).encode())

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


def test_a_drain_refusal_is_retried_on_the_other_instance_never_back_on_the_one_that_refused(tmp_path: Path) -> None:
    """The rolling restart's flake: nginx's retry of a 421 went back to the draining instance first (by the hash),
    and with the second try cut short a client could get the drain's 503 while the other instance was up. Now the
    retry goes to the other instance; the one that refused is only its backup."""
    refusing, serving = _Instance("refusing", draining=True), _Instance("serving", draining=False)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    started = []
    try:
        port = free_port()
        started.append(start_nginx(tmp_path, port, [refusing.address, serving.address]))
        for n in range(40):  # fresh clients (spread by request id) and pinned ones (affinity cookies)
            answer = call(port, "/v1/chat/completions", method="POST", body=body,
                          headers={"Cookie": f"parley_lb=key{n}"} if n % 2 else None)
            assert (answer.status, answer.json()) == (200, {"served_by": "serving"})
        assert refusing.seen["retry"] == 0 and refusing.seen["first"] > 5  # refused some, never asked again
        assert serving.seen["retry"] == refusing.seen["first"] and serving.seen["first"] == 40 - refusing.seen["first"]
        # The other instance down as well (nothing listens there): the drain's own answer, never a 502 or a 421.
        (down := tmp_path / "down").mkdir()
        port = free_port()
        started.append(start_nginx(down, port, [refusing.address, f"127.0.0.1:{free_port()}"]))
        for n in range(6):
            answer = call(port, "/v1/chat/completions", method="POST", body=body,
                          headers={"Cookie": f"parley_lb=key{n}"} if n % 2 else None)
            assert answer.status == 503 and answer.header("Retry-After") == ["2"], answer
    finally:
        for nginx in started:
            nginx.send_signal(signal.SIGTERM)
            nginx.wait(timeout=30)
        for instance in (refusing, serving):
            instance.shutdown()
            instance.server_close()


class _KeptOpen(ThreadingHTTPServer):
    """A stand-in instance that never closes an idle keep-alive connection itself, and notes each one the other
    side (nginx) closed."""

    daemon_threads = True

    def __init__(self) -> None:
        self.closed_by_nginx = threading.Event()
        instance = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def finish(self) -> None:  # handle() ended: the peer closed the connection (this side never does)
                super().finish()
                instance.closed_by_nginx.set()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def test_nginx_closes_idle_instance_connections_before_an_instance_would(tmp_path: Path) -> None:
    """CI flake (rolling restart, 1 of 406 API requests): a fresh POST got nginx's 502. nginx kept idle connections
    to the instances for 60 s while uvicorn closes them after 5 s and a drained instance closed them as it exited; a
    POST nginx sent on one just as the instance closed it failed after it was sent, which nginx may not retry. Now
    nginx drops idle upstream connections first: every upstream's keepalive_timeout is shorter than uvicorn's
    keep-alive and a draining instance's linger, and nginx does close them (here, an instance that never would)."""
    import uvicorn

    from core.config import Settings

    template = (PROJECT_ROOT / "deploy" / "nginx" / "parley.conf.template").read_text()
    upstreams = re.findall(r"^upstream (\w+) \{(.*?)^\}", template, re.S | re.M)
    assert len(upstreams) == 5
    instance_keeps = min(uvicorn.Config("server:app").timeout_keep_alive, Settings().drain_linger_seconds)
    for name, block in upstreams:
        timeout = re.search(r"^\s*keepalive_timeout (\d+)s;", block, re.M)
        assert timeout and int(timeout.group(1)) < instance_keeps, name
    instance = _KeptOpen()
    port = free_port()
    nginx = start_nginx(tmp_path, port, [f"127.0.0.1:{instance.server_address[1]}"] * 2)
    try:
        answer = call(port, "/v1/chat/completions", method="POST", body={"model": MODEL, "messages": []})
        assert answer.status == 200
        assert instance.closed_by_nginx.wait(timeout=30)  # nginx's default would keep it for 60 s
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=30)
        instance.shutdown()
        instance.server_close()
