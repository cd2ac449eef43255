"""A turn streamed to an HTTP client: the turn runs in a worker thread, the event loop only forwards chunks.

Provider calls and database writes never run on the event loop that also carries Streamlit's websockets.
When the client goes away, the worker stops at the next delta and the turn closes as interrupted (its
provider stream is closed, its usage recorded).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass

from core.chat import Turn, TurnOutcome


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Done:
    outcome: TurnOutcome


Event = Delta | Done


class TurnStream:
    """Runs turn.deltas() on an executor thread; first() waits for its first event, events() yields the rest."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.cancelled = threading.Event()
        self._items: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None

    def start(self, executor: Executor) -> TurnStream:
        executor.submit(self._work)
        return self

    def _work(self) -> None:
        try:
            for text in self.turn.deltas():
                if self.cancelled.is_set():
                    break  # the client left: close() below stops the provider and records the interruption
                self._put(Delta(text))
        finally:
            self._put(Done(self.turn.close()))

    def _put(self, event: Event) -> None:
        self._items.put(event)
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            loop.call_soon_threadsafe(wakeup.set)

    def first(self, timeout: float) -> Event:
        """The first event, waited for in the caller's (worker) thread: it decides the response's status."""
        return self._items.get(timeout=timeout)

    async def events(self) -> AsyncIterator[Event]:
        """The remaining events, on the event loop; leaving early (client gone) cancels the turn."""
        self._loop, self._wakeup = asyncio.get_running_loop(), asyncio.Event()
        try:
            while True:
                try:
                    event = self._items.get_nowait()
                except queue.Empty:
                    self._wakeup.clear()
                    if self._items.empty():  # checked again after clear(): no wake-up can be lost
                        await self._wakeup.wait()
                    continue
                yield event
                if isinstance(event, Done):
                    return
        finally:
            self.cancelled.set()


def run_to_end(turn: Turn) -> TurnOutcome:
    """A whole reply, for a non-streaming request (called on a worker thread)."""
    try:
        for _ in turn.deltas():
            pass
    finally:
        outcome = turn.close()
    return outcome
