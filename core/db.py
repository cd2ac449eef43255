"""Engine and sessions for SQLite (default) or PostgreSQL; Alembic upgrade once per process."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from core import changes  # its ORM events keep request caches current (core/changes.py)
from core.config import PROJECT_ROOT, Settings, get_settings
from core.db_writes import QueuedConnection, queue_writer, writer_queue
from core.logging import log_event
from core.secrets_env import private_dir

logger = logging.getLogger(__name__)
_migrate_lock = threading.Lock()
_migrated: set[str] = set()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; busy_timeout waits instead of failing on a lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A new engine for url (SQLite gets WAL and foreign keys; PostgreSQL a checked pool)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_dir(Path(path).parent)
            # 0600 from the start; SQLite gives its -wal and -shm files the database file's mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        # Every UI session runs its script in its own thread: with 50 people on one instance, SQLAlchemy's default
        # 5 + 10 connections left script runs waiting 30 s for one and failing (bench/ui_load.py). A SQLite
        # connection is a file handle; writers still queue on SQLite's own lock (busy_timeout).
        engine = create_engine(url, connect_args={"check_same_thread": False, "factory": QueuedConnection},
                               pool_size=20, max_overflow=80)
        queue = writer_queue(str(Path(path).resolve()) if path and path != ":memory:" else url)

        def on_connect(dbapi_connection: Any, record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, record)
            if isinstance(dbapi_connection, QueuedConnection):
                dbapi_connection.parley_queue = queue

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "before_cursor_execute", queue_writer)
        return engine
    # No automatic server-side prepares: after five runs psycopg would switch to a generic plan, and
    # PostgreSQL's generic plan for `content ILIKE $1` cannot use the trigram index (700 ms vs 0.4 ms).
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args={"prepare_threshold": None})


_engines: dict[str, Engine] = {}


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    url = (settings or get_settings()).sqlalchemy_url
    engine = _engines.get(url)
    if engine is None:
        with _migrate_lock:
            engine = _engines.setdefault(url, make_engine(url))
    return engine


def alembic_config(connection: Any | None = None) -> AlembicConfig:
    cfg = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["connection"] = connection
    cfg.attributes["skip_logging_config"] = True
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to revision on engine's database."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    changes.forget()


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to revision on engine's database."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)
    changes.forget()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no alembic_version table yet
            return None


def ensure_migrated(engine: Engine | None = None) -> Engine:
    """Run `alembic upgrade head` once per process and database."""
    engine = engine or get_engine()
    key = str(engine.url)
    if key in _migrated:
        return engine
    with _migrate_lock:
        if key not in _migrated:
            upgrade(engine)
            _migrated.add(key)
            log_event(logger, "database migrated", backend=engine.dialect.name)
    return engine


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def check_database(engine: Engine | None = None) -> bool:
    """True when a trivial query succeeds (used by /healthz)."""
    try:
        with (engine or get_engine()).connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def reset_caches() -> None:
    """Forget engines and migration state (tests switch databases between cases)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _migrated.clear()
    changes.forget()
