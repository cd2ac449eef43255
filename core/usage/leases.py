"""Holds are leases: while a call runs, the process that holds its budget renews the hold's expiry, so an expired
hold always belongs to a process that died (and the reaper may charge its call) — however long a reply takes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

logger = logging.getLogger(__name__)


class Renewable(Protocol):
    def renew(self, hold_ids: Sequence[str], ttl: timedelta) -> None: ...


_lock = threading.Lock()
_live: dict[int, tuple[Renewable, float, set[str]]] = {}  # id(ledger) -> (ledger, ttl seconds, hold ids)
_thread: threading.Thread | None = None
_wake = threading.Event()
_period = 15.0  # what the thread sleeps between rounds now: a quarter of the shortest time to live it serves


def track(ledger: Renewable, ttl_seconds: float, hold_id: str) -> None:
    """This process's call holds hold_id until untrack(): keep it alive."""
    global _thread
    with _lock:
        _live.setdefault(id(ledger), (ledger, ttl_seconds, set()))[2].add(hold_id)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_renew_forever, name="parley-budget-leases", daemon=True)
            _thread.start()
        elif ttl_seconds / 4 < _period:
            _wake.set()  # it sleeps longer than this hold may go unrenewed: start a shorter round


def untrack(ledger: Renewable, hold_id: str) -> None:
    with _lock:
        entry = _live.get(id(ledger))
        if entry is not None:
            entry[2].discard(hold_id)
            if not entry[2]:
                del _live[id(ledger)]


def renew_now() -> None:
    """Renew every live hold once (the thread does it every ttl/4)."""
    with _lock:
        entries = [(ledger, ttl, sorted(ids)) for ledger, ttl, ids in _live.values() if ids]
    for ledger, ttl, ids in entries:
        try:
            ledger.renew(ids, timedelta(seconds=ttl))
        except Exception:  # a database or Redis blip: the next round retries, well before the holds expire
            logger.warning("budget leases: renewal failed", exc_info=True)


def _renew_forever() -> None:
    global _period
    while True:
        with _lock:
            _period = max(0.5, min((ttl for _, ttl, _ in _live.values()), default=60.0) / 4)
        if _wake.wait(_period):  # woken for a shorter period: the holds are fresh, renew at the next round
            _wake.clear()
            continue
        renew_now()
