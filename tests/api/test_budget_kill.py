"""A real API server process killed (kill -9) mid-stream: its call is charged within the hold's TTL, once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx2 as httpx
import pytest
from sqlmodel import Session, func, select

from core.config import PROJECT_ROOT, get_settings
from core.models import BudgetHold, Role, UsageEvent
from core.usage import Budgets
from tests.api.conftest import _free_port
from tests.conftest import REDIS_URL
from tests.fakes.provider_server import Reply
from tests.usage.test_budget import clear_redis_budgets

SERVER = r"""
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from core.api import create_api
from core.app import startup

startup()
app = Starlette(routes=[Mount("/v1", app=create_api())])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
"""

TTL = 2


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server process exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the server process did not start")


@pytest.mark.parametrize("store", ["db"] + (["redis"] if REDIS_URL else []))
def test_a_server_killed_mid_stream_leaves_a_hold_that_is_reconciled_within_the_ttl(
        store: str, api_env: None, engine, session: Session, provider, token: str, alice: int,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    clear_redis_budgets()
    monkeypatch.setenv("PARLEY_LIMITS__HOLD_TTL_SECONDS", str(TTL))
    monkeypatch.setenv("REDIS_URL", REDIS_URL if store == "redis" else "")
    get_settings.cache_clear()
    settings = get_settings()
    budgets = Budgets(settings, engine)
    limits = settings.limits.for_role(Role.user)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=PROJECT_ROOT, env=dict(os.environ))
    try:
        _wait_for(port, server)
        provider.enqueue("openai", Reply(chunks=[f" w{i}" for i in range(100)], chunk_delay=0.1))
        body = {"model": "openai/gpt-4o", "stream": True, "max_tokens": 4000,
                "messages": [{"role": "user", "content": "Count slowly"}]}
        received = 0
        with httpx.Client(timeout=30) as client, client.stream(
                "POST", f"http://127.0.0.1:{port}/v1/chat/completions", content=json.dumps(body),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if '"content":" w' in line:
                    received += 1
                if received == 3:
                    os.kill(server.pid, signal.SIGKILL)  # mid-stream: no finish, no settle, no usage event
                    break
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    held = budgets.standing(alice, limits)
    assert held.usd_held >= 4000 * 10 / 1_000_000 and held.tokens_held >= 4000  # the dead call's worst case
    time.sleep(TTL + 0.3)
    assert budgets.reap_expired(force=True) == 1
    after = budgets.standing(alice, limits)
    # Nothing tells what the dead call produced (an API request keeps no reply row): it is charged what it held, the
    # most it could have cost, once (issue 21, row 23), in a usage event marked estimated.
    assert (after.usd_month, after.tokens_today, after.usd_held) == (held.usd_held, held.tokens_held, 0)
    assert budgets.reap_expired(force=True) == 0  # charged once
    session.expire_all()
    [lost] = session.exec(select(UsageEvent)).all()
    assert (lost.status, lost.error_kind, lost.estimated, lost.source) == ("interrupted", "lost", True, "api")
    assert lost.tokens_in + lost.tokens_out == held.tokens_held and lost.cost_usd == pytest.approx(held.usd_held)
    assert session.exec(select(func.count()).select_from(BudgetHold)).one() == 0
