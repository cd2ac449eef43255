"""Writes under contention: SQLite's writers queued in arrival order (one process), and a busy write tried again.

SQLite lets one writer in at a time; the others poll with growing sleeps and no queue, so under many concurrent
writes (32 API streams, each storing its reply as it streams) an unlucky writer starved past busy_timeout and
failed with "database is locked" after delivering a whole reply. Here a connection about to write waits its turn
and holds it until its transaction ends; readers never wait (WAL). Whatever still fails transiently (another
process's lock, PostgreSQL's serialization failures) is one transaction that write_retrying runs again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from core.logging import log_event

logger = logging.getLogger(__name__)
T = TypeVar("T")


class WriterQueue:
    """The process's SQLite writers, queued in arrival order on a condition instead of SQLite's busy handler.
    Re-entrant per thread, as SQLite's own lock never was: a thread writing on two connections at once fails as
    before (busy), after the same wait."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if not self._cond.wait_for(lambda: self._owner is None, timeout):
                return False
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth <= 0:
                self._owner, self._depth = None, 0
                self._cond.notify()


_writers: dict[str, WriterQueue] = {}
_writers_lock = threading.Lock()


def writer_queue(database: str) -> WriterQueue:
    """The process's one queue for a database file (every engine on the file shares it)."""
    with _writers_lock:
        return _writers.setdefault(database, WriterQueue())
WRITE_WAIT_SECONDS = 30.0
_READS = ("select", "pragma", "with", "explain")  # statements that never take SQLite's write lock


class QueuedConnection(sqlite3.Connection):
    """A SQLite connection that leaves the process's writer queue when its transaction ends (however it ends)."""

    parley_queue: WriterQueue | None = None
    parley_writing = False

    def _leave(self) -> None:
        if self.parley_writing and not self.in_transaction and self.parley_queue is not None:
            self.parley_writing = False
            self.parley_queue.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.parley_writing and self.parley_queue is not None:
                self.parley_writing = False
                self.parley_queue.release()


def queue_writer(conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                  _executemany: bool) -> None:
    dbapi = conn.connection.dbapi_connection
    if not isinstance(dbapi, QueuedConnection) or dbapi.parley_writing or dbapi.parley_queue is None:
        return
    if statement.lstrip()[:8].lower().startswith(_READS):
        return
    if not dbapi.parley_queue.acquire(WRITE_WAIT_SECONDS):
        raise OperationalError(statement, parameters, sqlite3.OperationalError("database is locked"))
    dbapi.parley_writing = True


RETRY_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)  # seconds; about 6 s in all, on top of each try's busy wait


def transient(exc: BaseException) -> bool:
    """A write that failed only because others held the database: SQLite's lock past its busy timeout, PostgreSQL's
    serialization failure or deadlock. Trying the same transaction again is safe and usually succeeds."""
    if not isinstance(exc, OperationalError | DBAPIError):
        return False
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc) or "database is busy" in str(exc)


def write_retrying(write: Callable[[], T], what: str) -> T:
    """Run write (one whole transaction) again when it failed transiently (see transient), logging each retry."""
    for pause in (*RETRY_PAUSES, None):
        try:
            return write()
        except (OperationalError, DBAPIError) as exc:
            if pause is None or not transient(exc):
                raise
            log_event(logger, "database busy: writing again", logging.WARNING, what=what, pause_seconds=pause,
                      error=type(exc).__name__)
            time.sleep(pause)
    raise AssertionError  # pragma: no cover  (the last pause is None: the loop returns or raises)


