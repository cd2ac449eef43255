"""The probes answer while Starlette's shared thread pool is full, and a hung dependency cannot pile up threads.

Issue 21, finding 6 (health half): ~40 slow streamed API requests held every token of anyio's default thread limiter
and /healthz, /readyz timed out for ~80 s, because their checks waited for a token of the same limiter.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread
import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from core import lifecycle
from core.health import HealthProbe, healthz, livez, readyz

T = TypeVar("T")
STREAMLIT_TOKENS = 28  # what Streamlit gives anyio's default limiter (starlette_server_config)


def _run(func: Callable[[], Awaitable[T]]) -> T:
    """anyio.run on a thread of its own: earlier tests (Playwright's sync API) may leave an event loop running in
    this one, and a loop cannot start inside another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, func).result()


def _probes() -> Starlette:
    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/livez", livez)])


def test_probes_answer_while_every_token_of_the_shared_thread_pool_is_held(parley_env: Path) -> None:
    async def scenario() -> dict[str, int]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = STREAMLIT_TOKENS
        release = threading.Event()
        statuses: dict[str, int] = {}

        async def hold_a_token() -> None:
            await anyio.to_thread.run_sync(release.wait)

        async with anyio.create_task_group() as holders:
            try:
                for _ in range(STREAMLIT_TOKENS):  # slow sync work (a provider call, a static file) on every token
                    holders.start_soon(hold_a_token)
                while limiter.borrowed_tokens < limiter.total_tokens:
                    await anyio.sleep(0.01)
                transport = httpx.ASGITransport(app=_probes())
                async with httpx.AsyncClient(transport=transport, base_url="http://parley") as client:
                    with anyio.fail_after(60):  # a bound on the test, not a timing: before the fix they never answer
                        for path in ("/healthz", "/readyz", "/livez"):
                            statuses[path] = (await client.get(path)).status_code
                assert limiter.borrowed_tokens == limiter.total_tokens  # the pool stayed full all along
            finally:
                release.set()  # the held threads end (a task group waits for them)
        return statuses

    lifecycle.reset()
    assert _run(scenario) == {"/healthz": 200, "/readyz": 200, "/livez": 200}


def test_a_hung_check_is_reported_as_timeout_and_runs_once_for_every_caller() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def hung_database() -> bool:
        calls.append("database")
        started.set()
        release.wait(30)
        return True

    probe = HealthProbe(lambda: {"database": hung_database, "redis": lambda: True}, wait_seconds=0.05)

    async def probe_three_times() -> list[dict[str, str]]:
        return [await probe.results() for _ in range(3)]

    try:
        results = _run(probe_three_times)
    finally:
        release.set()
    assert results == [{"database": "timeout", "redis": "ok"}] * 3
    assert calls == ["database"]  # one check in flight, shared: a hung database does not eat threads


def test_a_result_is_reused_while_fresh_then_checked_again() -> None:
    calls: list[int] = []

    def database() -> bool:
        calls.append(1)
        return len(calls) > 1  # down at first, then back

    probe = HealthProbe(lambda: {"database": database}, fresh_seconds=3600)
    assert _run(probe.results) == {"database": "error"}
    assert _run(probe.results) == {"database": "error"} and len(calls) == 1
    probe.fresh_seconds = 0
    assert _run(probe.results) == {"database": "ok"} and len(calls) == 2


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_failing_check_answers_503_naming_it(path: str, parley_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core import health

    monkeypatch.setattr(health, "probe", HealthProbe(lambda: {"database": lambda: False}))
    lifecycle.reset()

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_probes()), base_url="http://p") as client:
            return await client.get(path)

    response = _run(get)
    assert response.status_code == 503 and response.json()["database"] == "error"
