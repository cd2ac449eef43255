"""One process serves the UI and the extra routes: `streamlit run server.py` or `uvicorn server:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.app import startup
from core.health import health_checks
from core.usage.telemetry import render


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    startup()  # migrations and the first admin before the first request
    yield


async def healthz(_request: Request) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 naming what is down."""
    checks = health_checks()
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503)


async def metrics(_request: Request) -> Response:
    body, content_type = render()
    return Response(body, media_type=content_type)


app = st.App("Home.py", routes=[Route("/healthz", healthz), Route("/metrics", metrics)], lifespan=lifespan)
