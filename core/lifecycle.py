"""This process's life: ready, or draining after SIGTERM (no new turns, in-flight replies may finish).

The kernel keeps the state; server.py turns SIGTERM into drain() and answers /readyz from ready(); the chat
manager refuses new turns while draining and counts the turns in flight, so the stop waits for them.
"""

from __future__ import annotations

import threading
import time

_lock = threading.Condition()
_draining = False
_in_flight = 0


def drain() -> None:
    """From now on: not ready, and no new turns."""
    global _draining
    with _lock:
        _draining = True
        _lock.notify_all()


def draining() -> bool:
    return _draining


def turn_started() -> None:
    global _in_flight
    with _lock:
        _in_flight += 1


def turn_ended() -> None:
    global _in_flight
    with _lock:
        _in_flight = max(0, _in_flight - 1)
        _lock.notify_all()


def in_flight() -> int:
    return _in_flight


def wait_for_turns(grace_seconds: float) -> int:
    """Block until no turn is in flight or the grace period is over; the turns still running (0: all done)."""
    deadline = time.monotonic() + grace_seconds
    with _lock:
        while _in_flight and (left := deadline - time.monotonic()) > 0:
            _lock.wait(left)
        return _in_flight


def reset() -> None:
    """Ready again, nothing in flight (tests)."""
    global _draining, _in_flight
    with _lock:
        _draining, _in_flight = False, 0
