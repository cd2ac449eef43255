"""One process serves the UI and the extra routes: `streamlit run server.py` or `uvicorn server:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.app import startup
from core.db import check_database


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    startup()  # migrations and the first admin before the first request
    yield


async def healthz(_request: Request) -> JSONResponse:
    database = check_database()
    body = {"status": "ok" if database else "unavailable", "database": "ok" if database else "error"}
    return JSONResponse(body, status_code=200 if database else 503)


app = st.App("Home.py", routes=[Route("/healthz", healthz)], lifespan=lifespan)
