"""Group commit: the end-of-turn writes of many requests (the reply, its usage event, its budget settled) committed
together, one transaction for all that arrived while the previous one was being written.

Each caller waits until the transaction holding its write has committed, so nothing a client has been answered
about can be lost by a crash: what is acknowledged is on disk. Alone, a write commits at once (one hand-over to the
writer thread and back); under load, writes that queue behind a commit share the next one, so a process writes
one transaction per batch instead of one per request. A batch that fails is written again one write at a time, each
in its own transaction (retried while the database is busy), so one bad write never takes the others with it.
A write must only use the session it is given (its side effects after commit hang on the session's events).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import session_scope
from core.db_writes import write_retrying

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 64  # writes in one transaction at most (a batch's locks are held until it commits)


@dataclass
class _Write(Generic[T]):
    work: Callable[[Session], T]
    what: str
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    """The writer of one engine. run() is thread-safe; the writer thread starts with the first write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Condition()
        self._pending: list[_Write[Any]] = []
        self._thread: threading.Thread | None = None
        self.batches = 0  # transactions written (for tests and benches)

    def run(self, work: Callable[[Session], T], what: str) -> T:
        """work(session) committed (with others'), its result; its exception raised here, nothing of it kept."""
        if threading.current_thread() is self._thread:  # a write that writes: no waiting for itself
            return write_retrying(lambda: self._alone(work), what)
        item: _Write[T] = _Write(work, what)
        with self._lock:
            self._pending.append(item)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="parley-group-commit", daemon=True)
                self._thread.start()
            self._lock.notify()
        item.done.wait()
        if item.error is not None:
            raise item.error
        result: T = item.result
        return result

    def _alone(self, work: Callable[[Session], T]) -> T:
        with session_scope(self.engine) as session:
            return work(session)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._lock.wait()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                self._commit(batch)
            finally:
                for item in batch:
                    item.done.set()

    def _commit(self, batch: list[_Write[Any]]) -> None:
        self.batches += 1
        if len(batch) > 1:
            try:
                with session_scope(self.engine) as session:
                    results = [item.work(session) for item in batch]
            except Exception:  # one of them failed (or the database did): each on its own below
                logger.debug("group commit: batch failed, writing one by one", exc_info=True)
            else:
                for item, result in zip(batch, results, strict=True):
                    item.result = result
                return
        for item in batch:
            try:
                item.result = write_retrying(functools.partial(self._alone, item.work), item.what)
            except BaseException as exc:  # the caller raises it
                item.error = exc


_writers: dict[int, GroupCommit] = {}
_writers_lock = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit:
    """The process's writer for engine."""
    with _writers_lock:
        writer = _writers.get(id(engine))
        if writer is None or writer.engine is not engine:
            writer = _writers[id(engine)] = GroupCommit(engine)
        return writer
