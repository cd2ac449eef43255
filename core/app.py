"""Process start-up: logging, migrations, first admin. Idempotent; runs once per process."""

from __future__ import annotations

import logging
import sys
import threading

from core import catalog
from core.accounts import bootstrap_admin
from core.chat import live
from core.config import get_settings
from core.db import ensure_migrated, get_engine, session_scope
from core.history import purge_deleted
from core.knowledge import fail_interrupted
from core.logging import configure_logging, log_event

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_started: set[str] = set()


def startup() -> None:
    """Configure logging, migrate the database and create the first admin if none exists."""
    settings = get_settings()
    url = settings.sqlalchemy_url
    if url in _started:
        return
    with _lock:
        if url in _started:
            return
        configure_logging(settings.log_level)
        engine = ensure_migrated(get_engine(settings))
        with session_scope(engine) as session:
            first = bootstrap_admin(session=session, settings=settings)
        with session_scope(engine) as session:
            purged = purge_deleted(session=session, retention_days=settings.history.retention_days)
        if purged:
            log_event(logger, "deleted conversations purged", count=purged)
        # Replies a dead instance left `streaming` become interrupted, now and from then on (every instance sweeps).
        live.watch(engine, settings)
        catalog.watch(engine, settings)  # discovery of providers' models, when due
        live.interrupt_stale(engine, settings.chat.stream_stale_seconds, live.budgets_of(engine))
        stale = fail_interrupted(engine)  # documents a stopped process was indexing: failed, upload again
        if stale:
            log_event(logger, "interrupted indexing marked failed", documents=stale)
        if first is not None and first.generated_password:
            # Shown once on the console (never logged): the operator needs it to log in.
            banner = (
                "\n" + "=" * 64 + "\n"
                f"  Parley first admin created. Log in as: {first.username}\n"
                f"  Password (shown only now): {first.generated_password}\n"
                "  Change it in Settings after logging in.\n" + "=" * 64 + "\n"
            )
            print(banner, file=sys.stderr, flush=True)
        _started.add(url)


def reset() -> None:
    """Forget that start-up ran (tests switch databases)."""
    _started.clear()
    live.forget()
    catalog.schedule.forget()
