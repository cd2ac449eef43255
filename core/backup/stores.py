"""Dump and load each database: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore.

Both dumps are consistent while the app writes: SQLite copies in one backup step (one read snapshot), and
PostgreSQL's pg_dump runs on a snapshot exported by the transaction that counts and checksums the tables.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url

from core.backup.archive import BackupError, open_private, table_names, table_snapshot
from core.i18n import Msg

SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"


def _revision(connection: Connection) -> str | None:
    if "alembic_version" not in table_names(connection):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError(Msg("backup.no_database"))
    return Path(database)


def dump_sqlite(engine: Engine, into: Path) -> tuple[Path, dict[str, dict[str, Any]], str | None]:
    """A consistent copy of the SQLite database, with its tables' counts and checksums read from the copy."""
    out = into / SQLITE_MEMBER
    os.close(open_private(out))  # 0600 before the first page is copied; SQLite gives its journal the same mode
    source = sqlite3.connect(sqlite_path(engine), timeout=60)
    target = sqlite3.connect(out)
    try:
        source.backup(target)  # pages=-1: one step, so one read snapshot however much the app writes meanwhile
    finally:
        target.close()
        source.close()
    tables, revision = inspect_sqlite(out)
    return out, tables, revision


def inspect_sqlite(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return table_snapshot(connection, table_names(connection)), _revision(connection)
    finally:
        engine.dispose()


def sqlite_has_data(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    tables, _ = inspect_sqlite(path)
    return any(t["rows"] for name, t in tables.items() if name != "alembic_version")


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """The database's URL for libpq tools, its password passed in the environment (never on a command line)."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return make_url(url).set(password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(Msg("backup.tool_missing", tool=name))
    return found


def _run(cmd: list[str], env: dict[str, str]) -> None:
    # umask 077: whatever the tool creates (pg_dump's output holds every row) is private from its first byte.
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,  # noqa: S603 (our argv)
                          umask=0o077)
    if done.returncode != 0:
        # pg tools' messages name objects, never the password (it is not on the command line).
        raise BackupError(Msg("backup.tool_failed", tool=Path(cmd[0]).name, reason=done.stderr.strip()[-300:]))


def dump_postgres(engine: Engine, into: Path) -> tuple[Path, dict[str, dict[str, Any]], str | None]:
    """pg_dump (custom format) on the snapshot of the transaction that reads the counts and checksums."""
    out = into / POSTGRES_MEMBER
    os.close(open_private(out))  # pg_dump truncates it and keeps its mode
    dsn, env = _libpq(engine)
    pg_dump = _tool("pg_dump")
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
        _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
              f"--file={out}", f"--dbname={dsn}"], env)
        tables = table_snapshot(connection, table_names(connection))
        revision = _revision(connection)
    return out, tables, revision


def check_pg_dump(dump: Path) -> None:
    """pg_restore can read the dump's table of contents (before anything is written)."""
    _run([_tool("pg_restore"), "--list", str(dump)], dict(os.environ))


def postgres_has_data(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(table_names(connection))


def restore_postgres(engine: Engine, dump: Path, *, force: bool) -> None:
    """The dump loaded in one transaction (a failure writes nothing); with force, the schema is emptied first."""
    dsn, env = _libpq(engine)
    if force:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()  # pooled connections know the old tables' types
    _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={dsn}", str(dump)], env)


def snapshot_postgres(engine: Engine) -> tuple[dict[str, dict[str, Any]], str | None]:
    with engine.connect() as connection:
        return table_snapshot(connection, table_names(connection)), _revision(connection)
