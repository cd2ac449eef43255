"""`python -m core.api`: the API alone in its own processes, sharing the database with the portal. Two of them cache
who each token is; a revocation, a disabled user and new limits made anywhere apply to the very next request on both
(core.changes), and a plain request asks the provider plainly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.accounts import set_status
from core.api import create_token, revoke_token
from core.api.serve import check_workers
from core.config import PROJECT_ROOT, get_settings
from core.models import UserStatus
from core.models.usage import LimitPolicyUpdate
from core.usage.overrides import set_user_limits
from tests.api.conftest import _free_port
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def _start(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "core.api", "--port", str(port), "--workers", "1"],
                                cwd=PROJECT_ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-3000:]) from None
            time.sleep(0.1)


@pytest.fixture
def two_apis(api_env: None, engine: Engine, tmp_path: Path) -> Iterator[list[str]]:
    started = [_start(tmp_path / f"api{n}.log") for n in range(2)]
    try:
        for n, (proc, url) in enumerate(started):
            _wait(proc, url, tmp_path / f"api{n}.log")
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ask(url: str, token: str) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(f"{url}/v1/chat/completions", data=json.dumps(BODY).encode(),
                                     headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_revocation_disabling_and_limits_apply_to_the_next_request_on_every_process(
        two_apis: list[str], session: Session, provider: FakeProviderServer, admin_id: int) -> None:
    ann, bob = add_user(session, "ann"), add_user(session, "bob")
    ann_token = create_token(session=session, user_id=ann, name="script")
    bob_token = create_token(session=session, user_id=bob, name="script").token
    for url in two_apis:  # both processes now hold both callers
        for token in (ann_token.token, bob_token):
            status, _, body = _ask(url, token)
            assert status == 200, body
            assert body["choices"][0]["message"]["content"] == "Hello from the fake."  # type: ignore[index]
    # Plain requests ask the provider plainly, usage from its body.
    asked = provider.calls("/chat/completions")
    assert asked and all(not call.body.get("stream") for call in asked)

    revoke_token(session=session, actor_id=ann, token_id=ann_token.public.id)
    set_status(session=session, actor_id=admin_id, user_id=bob, status=UserStatus.disabled)
    for url in two_apis:
        status, _, body = _ask(url, ann_token.token)
        assert (status, body["error"]["code"]) == (401, "invalid_api_key")  # type: ignore[index]
        status, _, body = _ask(url, bob_token)
        assert (status, body["error"]["code"]) == (401, "invalid_api_key")  # type: ignore[index]

    set_status(session=session, actor_id=admin_id, user_id=bob, status=UserStatus.active)
    set_user_limits(session=session, actor_id=admin_id, user_id=bob,
                    limits_in=LimitPolicyUpdate(requests_per_minute=7))
    for url in two_apis:
        status, headers, body = _ask(url, bob_token)
        assert status == 200, body
        assert {k.lower(): v for k, v in headers.items()}["x-ratelimit-limit-requests"] == "7"


def test_several_workers_without_a_shared_store_are_refused_with_the_reason(parley_env: Path) -> None:
    get_settings.cache_clear()
    assert check_workers(1) is None
    problem = check_workers(2)
    assert problem is not None and "REDIS_URL" in problem
    result = subprocess.run([sys.executable, "-m", "core.api", "--workers", "2"], cwd=PROJECT_ROOT,
                            env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "REDIS_URL" in result.stderr


def test_sigterm_drains_and_every_answered_request_is_metered(api_env: None, engine: Engine, session: Session,
                                                              provider: FakeProviderServer, tmp_path: Path) -> None:
    """Usage is committed in batches (core.db_batch), and an answer leaves only once its batch has committed: a
    worker stopped (SIGTERM) while requests are in flight answers them, meters every one, and exits cleanly."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlmodel import func, select

    from core.models import UsageEvent, UsageStatus
    from tests.fakes.provider_server import Reply

    alice = add_user(session, "alice")
    token = create_token(session=session, user_id=alice, name="script").token
    provider.enqueue("openai", *[Reply(first_delay=0.4) for _ in range(8)])
    log = tmp_path / "api.log"
    proc, url = _start(log)
    try:
        _wait(proc, url, log)
        with ThreadPoolExecutor(8) as pool:
            asked = [pool.submit(_ask, url, token) for _ in range(8)]
            deadline = time.monotonic() + 10
            while len(provider.calls("/chat/completions")) < 8 and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.terminate()  # every request is with the provider now
            answers = [future.result()[0] for future in asked]
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert answers == [200] * 8  # api.max_concurrent_per_user is 8
    session.expire_all()
    metered = session.exec(select(func.count()).select_from(UsageEvent)
                           .where(UsageEvent.status == UsageStatus.complete)).one()
    assert metered == 8
