"""One process serves the UI, the API at /v1 and the ops routes: `streamlit run server.py` or `uvicorn server:app`."""

from __future__ import annotations

import socket
from asyncio import base_events as asyncio_base_events
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from core.api import create_api
from core.app import startup
from core.config import get_settings
from core.health import health_checks, metrics_allowed
from core.ui.errors import report_unexpected
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


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    startup()  # migrations and the first admin before the first request
    yield


async def healthz(_request: Request) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 naming what is down."""
    checks = await run_in_threadpool(health_checks)  # database and Redis calls stay off the event loop
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503)


async def metrics(request: Request) -> Response:
    """Prometheus' text; with metrics.allowed_addresses or PARLEY_METRICS_TOKEN set, only for whom they allow."""
    client = request.client.host if request.client else None
    if not metrics_allowed(client, request.headers.get("authorization", "")):
        return Response("forbidden\n", status_code=403, media_type="text/plain")
    body, content_type = render()
    return Response(body, media_type=content_type)


routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics)]
if get_settings().api.enabled:
    routes.append(Mount("/v1", app=create_api()))  # the OpenAI-compatible API (core/api)
app = st.App("Home.py", routes=routes, lifespan=lifespan, on_script_error=report_unexpected)
