"""Shared fixtures: a fresh migrated database per test, on SQLite and (when configured) PostgreSQL.

Migrating is done once per run, into a template (a SQLite file, a PostgreSQL template database); each test that
asks for a migrated database gets its own copy of it, then start-up runs as usual (its `alembic upgrade head`
finds the copy at head)."""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from core import app as core_app
from core import db, limiter
from core.chat import cache, chat_manager
from core.config import get_settings
from core.knowledge import forget_clients
from core.model_catalog import forget_catalog
from core.secrets_env import private_dir
from core.usage import forget_prices

PG_URL = os.environ.get("PARLEY_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# In the test process passwords are hashed at bcrypt's lowest work factor: the default (12) costs ~0.3 s a hash, and
# the tests hash thousands (every first admin, every added user, every password change). Same algorithm, same
# format, same checks. The live servers the tests start hash at the default.
_bcrypt_gensalt = bcrypt.gensalt
bcrypt.gensalt = lambda rounds=4, prefix=b"2b": _bcrypt_gensalt(rounds, prefix)


def _pg_admin_engine() -> Engine:
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


def create_pg_database(template: str | None = None) -> str:
    """A new PostgreSQL database, empty or a copy of the template database; returns its URL."""
    name = f"parley_t_{uuid.uuid4().hex[:12]}"
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


class MigratedTemplates:
    """A migrated database per backend, built on first use and copied for each test. PostgreSQL takes ~0.4 s to copy
    a database: a thread keeps the next copies ready while the tests run."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sqlite_file: Path | None = None
        self.pg_url: str | None = None
        self._pg_copies: queue.Queue[str] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._filler: threading.Thread | None = None

    def copy_sqlite(self, path: Path) -> None:
        if self.sqlite_file is None:
            built = self.directory / "template.db"
            engine = db.make_engine(f"sqlite:///{built}")
            db.upgrade(engine)
            with engine.connect() as conn:  # everything in the main file: the copy needs no -wal beside it
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self.sqlite_file = built
        private_dir(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # the mode the app gives its database
        with os.fdopen(fd, "wb") as out, self.sqlite_file.open("rb") as source:
            shutil.copyfileobj(source, out)

    def create_pg(self) -> str:
        if self.pg_url is None:
            url = create_pg_database()
            engine = db.make_engine(make_url(url).set(drivername="postgresql+psycopg").render_as_string(False))
            try:
                db.upgrade(engine)
            finally:
                engine.dispose()  # a template database takes no copy while anyone is connected to it
            self.pg_url = url
            self._filler = threading.Thread(target=self._fill, name="pg-template-copies", daemon=True)
            self._filler.start()
        while self._filler is not None and self._filler.is_alive():
            try:
                return self._pg_copies.get(timeout=0.5)
            except queue.Empty:
                continue
        return self._pg_copies.get_nowait() if self._pg_copies.qsize() else self._pg_copy()  # the thread failed

    def _pg_copy(self) -> str:
        assert self.pg_url is not None
        return create_pg_database(template=make_url(self.pg_url).database)

    def _fill(self) -> None:
        while not self._stop.is_set():
            url = self._pg_copy()
            while True:
                try:
                    self._pg_copies.put(url, timeout=0.5)
                    break
                except queue.Full:
                    if self._stop.is_set():
                        drop_pg_database(url)
                        return

    def drop(self) -> None:
        self._stop.set()
        if self._filler is not None:
            self._filler.join()
        while self._pg_copies.qsize():
            drop_pg_database(self._pg_copies.get_nowait())
        if self.pg_url is not None:
            drop_pg_database(self.pg_url)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"))
    yield templates
    templates.drop()


@pytest.fixture
def parley_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point Parley at a temporary data directory with test-friendly settings."""
    for name in list(os.environ):
        if name.startswith("PARLEY_") and not name.startswith("PARLEY_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARLEY_LOGIN__SLEEP_SECONDS", "0")
    monkeypatch.setenv("PARLEY_ADMIN_PASSWORD", "Admin-pass-123")
    monkeypatch.setenv("PARLEY_CATALOG__DISCOVER_EVERY_HOURS", "0")  # the catalog's tests run discovery themselves
    _reset_process_state()
    yield tmp_path / "data"
    _reset_process_state()


def _reset_process_state() -> None:
    get_settings.cache_clear()
    db.reset_caches()
    core_app.reset()
    limiter.reset_storages()
    cache._memory_backend.cache_clear()
    chat_manager.cache_clear()
    forget_prices()
    forget_catalog()
    forget_clients()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, parley_env: Path, monkeypatch: pytest.MonkeyPatch,
                 migrated_templates: MigratedTemplates) -> Iterator[str]:
    """An empty database on each backend, configured as the app's database; already migrated (a copy of the
    template) when the test asks for `engine`, which would migrate it."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        if migrated:
            migrated_templates.copy_sqlite(parley_env / "parley.db")
        url = f"sqlite:///{parley_env / 'parley.db'}"
        monkeypatch.setenv("PARLEY_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
        return
    url = migrated_templates.create_pg() if migrated else create_pg_database()
    monkeypatch.setenv("PARLEY_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        db.reset_caches()
        drop_pg_database(url)


@pytest.fixture
def engine(database_url: str) -> Engine:
    """The app's engine on a freshly migrated database (first admin created)."""
    core_app.startup()
    return db.get_engine()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def sqlite_app(parley_env: Path, migrated_templates: MigratedTemplates) -> Path:
    """SQLite only (page and browser tests): migrated, first admin created."""
    migrated_templates.copy_sqlite(parley_env / "parley.db")
    core_app.startup()
    return parley_env


def add_user(session: Session, username: str, password: str = "Some-pass-123", *, role: str = "user") -> int:
    """Create an active user through the admin path (as the first admin); returns its id."""
    from sqlmodel import select

    from core.accounts import create_user
    from core.models import Role, User, UserCreate

    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    return create_user(session=session, actor_id=admin, user_in=UserCreate(
        username=username, email=f"{username}@example.com", display_name=username.title(), password=password,
        role=Role(role))).id
