"""The catalog's schedule: one daemon thread per process asks, every CHECK_SECONDS, whether a provider's discovery
is due (catalog.discover_every_hours since its last run) and runs the providers this process claimed. Two instances
never ask the same provider at once (core.catalog.discovery.claim); 0 hours: only when an admin asks."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Engine

from core.catalog.discovery import Outcome, claim, run_discovery
from core.config import Settings
from core.providers.registry import configured_providers

logger = logging.getLogger(__name__)
FIRST_CHECK_SECONDS = 30.0  # after start-up: a process that only starts and stops (a command, a test) asks nothing
CHECK_SECONDS = 300.0

_lock = threading.Lock()
_watched: dict[str, tuple[Engine, Settings]] = {}
_thread: threading.Thread | None = None
_wake = threading.Event()


def run_due(engine: Engine, settings: Settings) -> list[Outcome]:
    """Discover the providers whose turn this process claims now (none: nothing is asked)."""
    every = timedelta(hours=settings.catalog.discover_every_hours)
    names = [name for name in configured_providers(settings) if claim(engine, name, every)]
    return run_discovery(engine, settings, None, names) if names else []


def watch(engine: Engine, settings: Settings) -> None:
    """Run this engine's discovery when due, from now on (nothing when the schedule is off)."""
    global _thread
    if settings.catalog.discover_every_hours <= 0:
        return
    with _lock:
        _watched[engine.url.render_as_string(hide_password=True)] = (engine, settings)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="parley-catalog-schedule", daemon=True)
            _thread.start()


def _loop() -> None:
    _wake.wait(FIRST_CHECK_SECONDS)
    while True:
        with _lock:
            watched = list(_watched.values())
        for engine, settings in watched:
            try:
                run_due(engine, settings)
            except Exception:  # a database blip must not end the schedule; the next check retries
                logger.warning("model catalog: scheduled discovery failed", exc_info=True)
        _wake.clear()
        _wake.wait(CHECK_SECONDS)


def forget() -> None:
    """Stop scheduling every engine (tests switch databases)."""
    with _lock:
        _watched.clear()
