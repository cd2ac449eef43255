"""Health of what the portal depends on (the database, and Redis when configured), and the probes that report it.

The probes (/healthz, /readyz, /livez) are async and never touch Starlette's shared thread pool (anyio's default
limiter: slow API calls and static files can hold all of its tokens). Their checks run on a two-thread executor of
their own, one check of each kind at a time, a result is reused for a second, and a probe waits at most a few
seconds for them; the database check uses a connection of its own, not the application's pool.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache

import redis
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import lifecycle
from core.config import get_settings
from core.db import check_database

CHECK_FRESH_SECONDS = 1.0  # a probe storm costs the database one query a second
CHECK_WAIT_SECONDS = 3.0  # below compose's healthcheck timeout (5 s): a hung dependency reads "timeout", not silence
CONNECT_TIMEOUT_SECONDS = 2


def check_redis(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return bool(client.ping())
    except redis.RedisError:
        return False


@lru_cache(maxsize=4)
def _probe_engine(url: str) -> Engine:
    """A connection per check, outside the application's pool: a pool busy with slow requests is not an outage."""
    connect_args: dict[str, object] = (
        {"check_same_thread": False, "timeout": CONNECT_TIMEOUT_SECONDS} if url.startswith("sqlite")
        else {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _named_checks() -> dict[str, Callable[[], bool]]:
    settings = get_settings()
    url = settings.sqlalchemy_url
    checks: dict[str, Callable[[], bool]] = {"database": lambda: check_database(_probe_engine(url))}
    redis_url = settings.redis_url
    if redis_url:
        checks["redis"] = lambda: check_redis(redis_url)
    return checks


def health_checks() -> dict[str, str]:
    """{"database": "ok"|"error", "redis": ...} — Redis only when REDIS_URL is set."""
    return {name: "ok" if check() else "error" for name, check in _named_checks().items()}


class HealthProbe:
    """Named checks on a small executor of their own: one run of each at a time, shared by every caller, its
    result reused for `fresh_seconds`; a caller waits at most `wait_seconds`, then reads "timeout" for what runs."""

    def __init__(self, checks: Callable[[], dict[str, Callable[[], bool]]] = _named_checks, *,
                 fresh_seconds: float = CHECK_FRESH_SECONDS, wait_seconds: float = CHECK_WAIT_SECONDS) -> None:
        self._checks, self.fresh_seconds, self.wait_seconds = checks, fresh_seconds, wait_seconds
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="parley-health")
        self._lock = threading.Lock()
        self._running: dict[str, Future[bool]] = {}
        self._last: dict[str, tuple[float, str]] = {}

    async def results(self) -> dict[str, str]:
        """{"database": "ok"|"error"|"timeout", ...}; never waits for a thread of the shared pool."""
        pending = {name: self._start(name, check) for name, check in self._checks().items()}
        waiting = [asyncio.wrap_future(f) for f in pending.values() if not f.done()]
        if waiting:  # a probe that stops waiting leaves the check running: the next probe shares it
            await asyncio.wait(waiting, timeout=self.wait_seconds)
        return {name: self._outcome(name, future) for name, future in pending.items()}

    def _start(self, name: str, check: Callable[[], bool]) -> Future[bool]:
        with self._lock:
            running = self._running.get(name)
            last = self._last.get(name)
            fresh = last is not None and time.monotonic() - last[0] < self.fresh_seconds
            if running is None or (running.done() and not fresh):
                running = self._running[name] = self._executor.submit(self._run, name, check)
            return running

    def _run(self, name: str, check: Callable[[], bool]) -> bool:
        try:
            ok = bool(check())
        except Exception:  # a check that raises is a failed check
            ok = False
        with self._lock:
            self._last[name] = (time.monotonic(), "ok" if ok else "error")
        return ok

    def _outcome(self, name: str, future: Future[bool]) -> str:
        if not future.done():
            return "timeout"
        return "ok" if future.result() else "error"


probe = HealthProbe()


def _health_body(results: dict[str, str]) -> tuple[bool, dict[str, object]]:
    healthy = all(v == "ok" for v in results.values())
    return healthy, {"status": "ok" if healthy else "unavailable", **results}


async def healthz(_request: Request) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 naming what is down or too slow."""
    healthy, body = _health_body(await probe.results())
    return JSONResponse(body, status_code=200 if healthy else 503)


async def livez(_request: Request) -> JSONResponse:
    """200 while the process serves requests at all (draining included): restart it only when this fails."""
    return JSONResponse({"status": "alive"})


async def readyz(_request: Request) -> JSONResponse:
    """200 when this instance should get new users: not draining, and its database (and Redis) answer.
    in_flight: the replies it is writing now (a drain waits for them)."""
    if lifecycle.draining():
        return JSONResponse({"status": "draining", "in_flight": lifecycle.in_flight()}, status_code=503)
    healthy, body = _health_body(await probe.results())
    return JSONResponse({**body, "in_flight": lifecycle.in_flight()}, status_code=200 if healthy else 503)


def metrics_allowed(client: str | None, authorization: str) -> bool:
    """Whether this caller may read /metrics (metrics.allowed_addresses, PARLEY_METRICS_TOKEN)."""
    settings = get_settings()
    allowed = settings.metrics.allowed_addresses
    if allowed and client not in allowed:
        return False
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return True
