"""One process serves the UI, the API at /v1 and the ops routes: `streamlit run server.py` or `uvicorn server:app`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import time
from asyncio import base_events as asyncio_base_events
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import lifecycle
from core.api import create_api
from core.app import startup
from core.config import get_settings
from core.health import healthz, livez, metrics_allowed, readyz
from core.lifecycle import DrainGate
from core.logging import log_event
from core.providers.wire import close_sessions
from core.ui.errors import report_unexpected
from core.ui.runtime import close_idle_sessions, navigation_only, sessions_running
from core.usage.telemetry import render


def _set_nodelay(sock: socket.socket) -> None:
    """asyncio's TCP_NODELAY for every TCP connection, whatever protocol number its listening socket was given.

    `streamlit run` binds its listening socket with socket.socket(family) (protocol 0) before it imports this
    module, and asyncio sets TCP_NODELAY only when the protocol says TCP. Without it a response written in two
    parts waits for the client's delayed ACK: +40 ms on every other request of a keep-alive connection (API
    clients keep theirs alive), and on the UI's websocket frames too.
    """
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


asyncio_base_events._set_nodelay = _set_nodelay  # type: ignore[attr-defined]
logger = logging.getLogger("parley.server")


DRAIN_TICK_SECONDS = 0.25  # how often a drain looks for UI sessions that became idle


def _on_loop(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=5)
    except Exception:  # the drain goes on: uvicorn's own shutdown closes what is left
        logger.warning("closing idle UI sessions failed", exc_info=True)
        return 0


def _wait_for_replies(loop: asyncio.AbstractEventLoop, grace_seconds: float) -> int:
    """Close each UI session's websocket once it is idle (its browser reconnects, through nginx, to another
    instance) until no reply is in flight and no session runs its script, or the grace period is over."""
    deadline = time.monotonic() + grace_seconds
    moved = 0
    while True:
        moved += _on_loop(loop, close_idle_sessions())
        if not (lifecycle.in_flight() or sessions_running()) or time.monotonic() >= deadline:
            break
        if lifecycle.in_flight():
            lifecycle.wait_for_turns(min(DRAIN_TICK_SECONDS, max(0.0, deadline - time.monotonic())))
        else:
            time.sleep(DRAIN_TICK_SECONDS)
    log_event(logger, "drained", still_running=lifecycle.in_flight(), sessions_moved=moved)
    return lifecycle.in_flight()


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    startup()  # migrations and the first admin before the first request
    gc.freeze()  # start-up's objects (modules, models, catalogs) live as long as the process: never scan them again
    loop = asyncio.get_running_loop()
    # After the server installed its own SIGTERM handler, which the drain then stops.
    settings = get_settings()
    lifecycle.drain_on_sigterm(lambda: _wait_for_replies(loop, settings.drain_grace_seconds),
                               settings.drain_linger_seconds)
    _log_proxy_trust()
    yield
    await close_sessions()  # the API's plain provider calls' connections (core.providers.wire)


def _log_proxy_trust() -> None:
    """Which peers' X-Forwarded-For uvicorn believes (FORWARDED_ALLOW_IPS, read by uvicorn before this module)."""
    trusted = os.environ.get("FORWARDED_ALLOW_IPS")
    if trusted is not None and trusted.strip() == "*":
        log_event(logger, "proxy_headers_from_anyone", level=logging.WARNING,
                  hint="any client can choose its address: set FORWARDED_ALLOW_IPS to the proxy's address")
    else:
        log_event(logger, "proxy_headers", trusted=trusted if trusted is not None else "127.0.0.1,::1 (default)")


FRAME_OPTIONS = (b"x-frame-options", b"SAMEORIGIN")
# No other site may frame Parley (clickjacking), and no page loads an image from anywhere else: model output
# shows images as links (core.ui.chat.markdown), and this is the browser's own guard should that ever miss one.
FRAME_ANCESTORS = (b"content-security-policy", b"frame-ancestors 'self'; img-src 'self' data: blob:")


class FrameHeaders:
    """No other site may frame Parley (clickjacking): both anti-framing headers on every HTTP response of the
    process, UI pages, static files, API and probes; a response that already says otherwise keeps its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                policies = b" ".join(v.lower() for k, v in headers if k.lower() == FRAME_ANCESTORS[0])
                headers += [FRAME_OPTIONS] if FRAME_OPTIONS[0] not in names else []
                headers += [FRAME_ANCESTORS] if b"frame-ancestors" not in policies else []
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_framed)


async def metrics(request: Request) -> Response:
    """Prometheus' text; with metrics.allowed_addresses or PARLEY_METRICS_TOKEN set, only for whom they allow."""
    client = request.client.host if request.client else None
    if not metrics_allowed(client, request.headers.get("authorization", "")):
        return Response("forbidden\n", status_code=403, media_type="text/plain")
    body, content_type = render()  # in memory, on the event loop: never waits for a thread
    return Response(body, media_type=content_type)


# The probes are async and wait for no thread of the shared pool (core/health.py).
routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/livez", livez), Route("/readyz", readyz),
                           Route("/metrics", metrics)]
if get_settings().api.enabled:
    routes.append(Mount("/v1", app=create_api()))  # the OpenAI-compatible API (core/api)
navigation_only()  # a reconnect to a fresh instance on /chat must still pass Home.py's login gate
# Outermost first: every answer carries the anti-framing headers, the drain's refusals included.
middleware = [Middleware(FrameHeaders), Middleware(DrainGate)]
app = st.App("Home.py", routes=routes, lifespan=lifespan, middleware=middleware, on_script_error=report_unexpected)
