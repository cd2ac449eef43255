"""The one version number behind every per-process request cache: who a token is, their role and status, their team,
limits, keys and the organisation's key policy can be cached in each process because every change to them changes
this number, in the same transaction as the change.

A process compares the number it cached with against the current one (one indexed row) before it trusts what it
holds, so a revoked token, a disabled user or a lowered limit applies to the very next request, on every instance.
The number is random, not a counter: a database restored from a backup cannot bring back a value some process
cached under after the backup was taken.

Changes are seen through the ORM's events, whatever code makes them: a flush that writes a watched table (new,
changed or deleted rows), or a bulk UPDATE / DELETE on one. Columns that only record activity (a token's last use, a
user's failed logins) do not count. Every table is either watched or named here as not mattering (a test checks
that, so a new table must be placed). A change made outside Parley (SQL by hand) is picked up within
MAX_AGE_SECONDS, when caches rebuild their entries anyway.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from core.models import CACHE_VERSION_ID

MAX_AGE_SECONDS = 60.0  # the longest a cached entry is used without being read again, even if nothing changed

# What an API request's context is made of: a change to any of these must reach every process's cache at once.
WATCHED = frozenset({"user", "apitoken", "team", "teammember", "limitpolicy", "providercredential", "orgsetting",
                     "priceoverride", "catalogmodel"})
# Columns of watched tables that say what happened, not who may do what.
QUIET = {"user": frozenset({"failed_login_attempts", "sessions_valid_after"}),
         "apitoken": frozenset({"last_used_at"}), "catalogmodel": frozenset({"seen_at"})}
# Tables no request cache depends on (every table is in one of the two sets; tests/test_changes.py checks).
UNWATCHED = frozenset({"auditevent", "userpreference", "promptpreset", "conversation", "message", "feedback",
                       "attachment", "attachmentblob",
                       "knowledgebase", "kbdocument", "chunk", "embeddingcache", "messagesource", "usageevent",
                       "budgetcounter", "budgethold", "usagedaily", "usagedailyerror", "cacheversion", "discoveryrun",
                       "alembic_version"})

_READ = text("SELECT value FROM cacheversion WHERE id = :id")
_BUMP = text("UPDATE cacheversion SET value = :value WHERE id = :id")
_FLAG = "parley_changed"


def current(engine: Engine) -> int:
    """The version now; 0 before the migration that adds it (then no cached entry is trusted)."""
    with engine.connect() as connection:
        if not _has_version(connection):
            return 0
        value = connection.execute(_READ, {"id": CACHE_VERSION_ID}).scalar()
    return int(value) if value is not None else 0


def bump(connection: Connection) -> None:
    """A new version, in connection's transaction (it commits, or is rolled back, with the change)."""
    if _has_version(connection):
        connection.execute(_BUMP, {"value": secrets.randbits(62) or 1, "id": CACHE_VERSION_ID})


_present: dict[str, bool] = {}  # database url -> whether it has the version row's table (migrated to 0018)


def _has_version(connection: Connection) -> bool:
    """A database not yet migrated this far (a migration test, an old revision) is written without a version."""
    key = str(connection.engine.url)
    present = _present.get(key)
    if present is None:
        present = _present[key] = inspect(connection).has_table("cacheversion")
    return present


def forget() -> None:
    """Look again whether each database has the version table (after a migration)."""
    _present.clear()


def _table(obj: Any) -> str | None:
    table = getattr(type(obj), "__table__", None)
    return getattr(table, "name", None)


def _matters(obj: Any, table: str, changed: bool) -> bool:
    """Whether writing obj (a row of a watched table) changes what a cache holds: new and deleted rows do; a
    changed row does unless only its quiet columns changed."""
    if not changed:
        return True
    quiet = QUIET.get(table, frozenset())
    if not quiet:
        return True
    state = obj._sa_instance_state
    return any(get_history(obj, attr.key).has_changes() for attr in state.mapper.column_attrs
               if attr.key not in quiet)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    if session.info.get(_FLAG):
        return
    rows = [(obj, False) for obj in session.new] + [(obj, False) for obj in session.deleted] \
        + [(obj, True) for obj in session.dirty]
    for obj, changed in rows:
        table = _table(obj)
        if table in WATCHED and _matters(obj, table, changed):
            bump(session.connection())
            session.info[_FLAG] = True  # once per transaction is enough: the value is new until it commits
            return


def _bulk_tables(state: ORMExecuteState) -> tuple[str | None, set[str]]:
    """The table a bulk UPDATE / DELETE writes, and the columns it sets (empty for a DELETE)."""
    statement: Any = state.statement
    table = getattr(getattr(statement, "table", None), "name", None)
    columns = {getattr(key, "key", str(key)) for key in (getattr(statement, "_values", None) or {})}
    return table, columns


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.session.info.get(_FLAG):
        return
    table, columns = _bulk_tables(state)
    if table not in WATCHED:
        return
    if state.is_update and columns and columns <= QUIET.get(table, frozenset()):
        return
    bump(state.session.connection())
    state.session.info[_FLAG] = True


def _end(session: Session, *_args: Any) -> None:
    session.info.pop(_FLAG, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "do_orm_execute", _on_execute)
for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    event.listen(Session, _name, _end)
