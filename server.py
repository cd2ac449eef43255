"""One process serves the UI, the API at /v1 and the ops routes: `streamlit run server.py` or `uvicorn server:app`."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
from asyncio import base_events as asyncio_base_events
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType

import streamlit as st
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from core import lifecycle
from core.api import create_api
from core.app import startup
from core.config import get_settings
from core.health import health_checks, metrics_allowed
from core.logging import log_event
from core.ui.errors import report_unexpected
from core.ui.runtime import navigation_only
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


def _drain_on_sigterm() -> None:
    """SIGTERM: report not-ready and start no new turn at once; let replies in flight finish (up to
    drain_grace_seconds); then hand the signal to the server's own handler (uvicorn's graceful exit)."""
    try:
        server_handler = signal.getsignal(signal.SIGTERM)
    except ValueError:  # not the main thread (an embedding server): nothing to take over
        return
    drained = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if drained.is_set() or lifecycle.draining():
            if drained.is_set() and callable(server_handler):
                server_handler(signum, frame)
            return
        lifecycle.drain()
        log_event(logger, "draining", in_flight=lifecycle.in_flight())
        threading.Thread(target=finish, name="parley-drain", daemon=True).start()

    def finish() -> None:
        left = lifecycle.wait_for_turns(get_settings().drain_grace_seconds)
        log_event(logger, "drained", still_running=left)
        drained.set()
        os.kill(os.getpid(), signal.SIGTERM)  # back on the main thread: now the server stops

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:
        return


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    startup()  # migrations and the first admin before the first request
    gc.freeze()  # start-up's objects (modules, models, catalogs) live as long as the process: never scan them again
    _drain_on_sigterm()  # after the server installed its own handler, which it then gets the signal from
    yield


async def healthz(_request: Request) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 naming what is down."""
    checks = await run_in_threadpool(health_checks)  # database and Redis calls stay off the event loop
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503)


async def livez(_request: Request) -> JSONResponse:
    """200 while the process serves requests at all (draining included): restart it only when this fails."""
    return JSONResponse({"status": "alive"})


async def readyz(_request: Request) -> JSONResponse:
    """200 when this instance should get new users: not draining, and its database (and Redis) answer.
    in_flight: the replies it is writing now (a drain waits for them)."""
    if lifecycle.draining():
        return JSONResponse({"status": "draining", "in_flight": lifecycle.in_flight()}, status_code=503)
    checks = await run_in_threadpool(health_checks)
    healthy = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks, "in_flight": lifecycle.in_flight()}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def metrics(request: Request) -> Response:
    """Prometheus' text; with metrics.allowed_addresses or PARLEY_METRICS_TOKEN set, only for whom they allow."""
    client = request.client.host if request.client else None
    if not metrics_allowed(client, request.headers.get("authorization", "")):
        return Response("forbidden\n", status_code=403, media_type="text/plain")
    body, content_type = render()
    return Response(body, media_type=content_type)


routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/livez", livez), Route("/readyz", readyz),
                           Route("/metrics", metrics)]
if get_settings().api.enabled:
    routes.append(Mount("/v1", app=create_api()))  # the OpenAI-compatible API (core/api)
navigation_only()  # a reconnect to a fresh instance on /chat must still pass Home.py's login gate
app = st.App("Home.py", routes=routes, lifespan=lifespan, on_script_error=report_unexpected)
