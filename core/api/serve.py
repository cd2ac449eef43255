"""`python -m core.api`: the OpenAI-compatible API alone, in N uvicorn worker processes (API workers on every core).

Every worker shares the database, Redis and Chroma with the portal, so there is one meter and one set of limits:
request windows live in Redis (several workers without it are refused at start: each would count alone), budgets
and usage in the database (or Redis), the request cache is kept current by core.changes. Each worker also serves
the probes (/healthz, /livez, /readyz); SIGTERM drains it as it drains the portal: not ready at once, new requests
turned away the way the shipped nginx retries elsewhere, requests in flight finish (drain_grace_seconds).

The database is migrated once, by the command, before any worker starts (workers migrating at once would race).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from core import lifecycle
from core.api.app import create_api
from core.chat import live
from core.config import get_settings
from core.db import ensure_migrated, get_engine
from core.health import healthz, livez, readyz
from core.lifecycle import DrainGate
from core.limiter import storage_uri
from core.logging import configure_logging, log_event
from core.providers.wire import close_sessions

APP = "core.api.serve:create_app"
logger = logging.getLogger("parley.api")


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    settings = get_settings()
    configure_logging(settings.log_level)
    engine = get_engine(settings)
    # Replies a dead process left `streaming` are swept by every process that writes them (core.chat.live).
    live.watch(engine, settings)
    gc.freeze()  # start-up's objects live as long as the process: never scan them again

    def drain() -> None:
        still_running = lifecycle.wait_for_turns(settings.drain_grace_seconds)
        log_event(logger, "drained", still_running=still_running)

    lifecycle.drain_on_sigterm(drain, settings.drain_linger_seconds)
    yield
    await close_sessions()  # the plain provider calls' connections (core.providers.wire)


def create_app() -> Starlette:
    """One worker's app: /v1 and the probes, behind the drain gate."""
    routes = [Route("/healthz", healthz), Route("/livez", livez), Route("/readyz", readyz),
              Mount("/v1", app=create_api())]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(DrainGate)])


def check_workers(workers: int) -> str | None:
    """Why `workers` processes cannot share this configuration's limits (None: they can)."""
    if workers > 1 and storage_uri(get_settings()).startswith("memory"):
        return ("several API workers need a shared store for request windows and the login throttle: set "
                "REDIS_URL (or PARLEY_REDIS_URL), or run one worker")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: one per core with Redis, else one)")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 1 if storage_uri(get_settings()).startswith("memory") else os.cpu_count() or 1
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    problem = check_workers(args.workers)
    if problem:
        parser.error(problem)
    settings = get_settings()
    configure_logging(settings.log_level)
    ensure_migrated(get_engine(settings))
    log_event(logger, "api starting", workers=args.workers, port=args.port)
    import uvicorn  # here: the workers import it themselves

    uvicorn.run(APP, factory=True, host=args.host, port=args.port, workers=args.workers, access_log=False,
                log_level="warning", timeout_graceful_shutdown=None)
    return 0
