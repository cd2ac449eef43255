"""A turn run for an HTTP client: the turn runs in a worker thread, the event loop only waits and forwards.

Provider calls and database writes never run on the event loop that also carries Streamlit's websockets, and no
request waits for its provider on the server's shared thread pool (anyio's, which also serves static files and
every other request's authentication): it waits on the loop, for the events the worker hands over.
When the client goes away the stream is cancelled: the worker stops at the turn's next delta (or before asking a
provider at all) and the turn closes as interrupted (its provider stream is closed, its usage recorded).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from starlette.types import Receive

from core.api.errors import log_unexpected
from core.chat import Turn, TurnOutcome


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Done:
    outcome: TurnOutcome


@dataclass(frozen=True)
class Failed:
    """The turn raised something unexpected: logged once under this id, which the client is told."""

    correlation_id: str


Event = Delta | Done | Failed


class TurnStream:
    """Runs a turn on an executor thread; first(), events() and outcome() await its events on the loop.

    Create and start it on the event loop that will read it. on_done runs in the worker once the turn is closed
    (or was never started): whatever the request held until then is released there.
    """

    def __init__(self, turn: Turn, on_done: Callable[[], None] = lambda: None) -> None:
        self.turn, self._on_done = turn, on_done
        self.cancelled = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue[Event] = asyncio.Queue()

    def start(self, executor: Executor) -> TurnStream:
        try:
            executor.submit(self._work)
        except RuntimeError:  # the executor is shut down (the server is stopping): the turn closes unstarted
            self.cancelled.set()
            threading.Thread(target=self._work, name="parley-api-close", daemon=True).start()
        return self

    def cancel(self) -> None:
        """The client is gone: stop the turn at its next delta (or before it starts)."""
        self.cancelled.set()

    def cancel_on_disconnect(self, receive: Receive) -> asyncio.Task[None]:
        """A watcher that cancels the turn when the client goes away; cancel the watcher to stop watching."""

        async def watch() -> None:
            try:  # the request's body was read already: the next message can only say the client has gone
                while (await receive())["type"] != "http.disconnect":
                    pass
            except Exception:  # a connection that cannot be read from is a client gone too
                pass
            self.cancel()

        return asyncio.ensure_future(watch())

    def _work(self) -> None:
        event: Event
        try:
            event = Done(self._run())
        except Exception as exc:  # the turn failed in a way it could not record: logged here, once
            event = Failed(log_unexpected(exc, "api turn failed"))
        finally:
            self._on_done()
        self._put(event)

    def _run(self) -> TurnOutcome:
        try:
            if not self.cancelled.is_set():  # a client that left while the request waited for a worker: no call
                for text in self.turn.deltas():
                    if self.cancelled.is_set():
                        break  # the client left: close() below stops the provider and records the interruption
                    self._put(Delta(text))
        finally:
            outcome = self.turn.close()
        return outcome

    def _put(self, event: Event) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, event)
        except RuntimeError:  # the loop is closed (server stopped): nobody is left to read the event
            self.cancelled.set()

    async def first(self) -> Event:
        """The first event: it decides the response's status (an error before any text gets its own)."""
        return await self._items.get()

    async def events(self) -> AsyncIterator[Event]:
        """The events up to the last (Done or Failed); leaving early (client gone) cancels the turn."""
        try:
            while True:
                event = await self._items.get()
                yield event
                if not isinstance(event, Delta):
                    return
        finally:
            self.cancelled.set()

    async def outcome(self) -> Done | Failed:
        """Wait for the end of the turn (the deltas are in the outcome's text too)."""
        try:
            while not isinstance(event := await self._items.get(), Done | Failed):
                pass
            return event
        finally:
            self.cancelled.set()


