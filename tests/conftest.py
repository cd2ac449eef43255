"""Shared fixtures: a fresh migrated database per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from core import app as core_app
from core import db, limiter
from core.chat import cache, chat_manager
from core.config import get_settings
from core.knowledge import forget_clients
from core.usage import forget_prices

PG_URL = os.environ.get("PARLEY_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg_admin_engine() -> Engine:
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


def create_pg_database() -> str:
    """A new empty PostgreSQL database; returns its URL."""
    name = f"parley_t_{uuid.uuid4().hex[:12]}"
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


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
    forget_clients()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, parley_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database on each backend, configured as the app's database."""
    if request.param == "sqlite":
        url = f"sqlite:///{parley_env / 'parley.db'}"
        monkeypatch.setenv("PARLEY_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
        return
    url = create_pg_database()
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
def sqlite_app(parley_env: Path) -> Path:
    """SQLite only (page and browser tests): migrated, first admin created."""
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
