"""A request run for an HTTP client: everything blocking about it — who the caller is, their limits, starting the
turn, the provider call and the writes — runs as one job on the API's own executor; the event loop only waits and
forwards.

Nothing blocking runs on the event loop that also carries Streamlit's websockets, and nothing of the API runs on the
server's shared thread pool (anyio's, which also serves static files and health checks): one hop to a worker of
the API's own, one hop back for each event it hands over.
When the client goes away the stream is cancelled: the worker stops at the turn's next delta (or before asking a
provider at all) and the turn closes as interrupted (its provider stream is closed, its usage recorded).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import CancelledError, Executor, Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.types import Receive

from core.api.errors import log_unexpected
from core.chat import CallStopped, Turn, TurnOutcome
from core.providers.base import ChatResult

S = TypeVar("S")


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


class Refused(Exception):
    """The request was answered before any turn started (an API error, a limit, a bad body): raised on the loop."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Begun(Generic[S]):
    """What start() returned: the turn is running, its events follow."""

    started: S


class TurnStream(Generic[S]):
    """Runs start() and then its turn on an executor thread; begun(), first(), events() and outcome() await its
    events on the loop.

    start() returns what the response needs (with the turn as `.turn`), or raises: the refusal is raised again on the
    loop by begun(). Create and start the stream on the event loop that will read it. on_done runs in the worker once
    the turn is closed (or none started): whatever the request held until then is released there.
    """

    def __init__(self, start: Callable[[], S], turn_of: Callable[[S], Turn],
                 on_done: Callable[[], None] = lambda: None) -> None:
        self._start, self._turn_of, self._on_done = start, turn_of, on_done
        self.turn: Turn | None = None
        self.cancelled = threading.Event()
        self._call: Future[ChatResult] | None = None  # the provider call running on the loop, if any
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue[Event | Begun[S] | Refused] = asyncio.Queue()

    def start(self, executor: Executor) -> TurnStream:
        try:
            executor.submit(self._work)
        except RuntimeError:  # the executor is shut down (the server is stopping): the turn closes unstarted
            self.cancelled.set()
            threading.Thread(target=self._work, name="parley-api-close", daemon=True).start()
        return self

    def cancel(self) -> None:
        """The client is gone: stop the turn at its next delta (or before it starts), and abandon a plain provider
        call under way (its connection is closed; the provider stops)."""
        self.cancelled.set()
        call = self._call
        if call is not None:
            call.cancel()

    def call(self, make: Callable[[], Awaitable[ChatResult]]) -> ChatResult:
        """From the worker: run the coroutine make() returns on the loop and wait for it (core.chat.PlainCalls);
        CallStopped once the client has gone."""
        if self.cancelled.is_set():
            raise CallStopped()

        async def run() -> ChatResult:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        self._call = future
        if self.cancelled.is_set():  # the client left while the call was being handed over
            future.cancel()
        try:
            return future.result()
        except CancelledError:
            raise CallStopped() from None
        finally:
            self._call = None

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
        event: Event | Refused
        try:
            started = self._start()
        except Exception as exc:  # answered on the loop, by the app's handlers for it
            self._on_done()
            self._put(Refused(exc))
            return
        self.turn = self._turn_of(started)
        self._put(Begun(started))
        try:
            event = Done(self._run(self.turn))
        except Exception as exc:  # the turn failed in a way it could not record: logged here, once
            event = Failed(log_unexpected(exc, "api turn failed"))
        finally:
            self._on_done()
        self._put(event)

    def _run(self, turn: Turn) -> TurnOutcome:
        try:
            if not self.cancelled.is_set():  # a client that left while the request waited for a worker: no call
                for text in turn.deltas():
                    if self.cancelled.is_set():
                        break  # the client left: close() below stops the provider and records the interruption
                    self._put(Delta(text))
        finally:
            outcome = turn.close()
        return outcome

    def _put(self, event: Event | Begun[S] | Refused) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, event)
        except RuntimeError:  # the loop is closed (server stopped): nobody is left to read the event
            self.cancelled.set()

    async def begun(self) -> S:
        """What start() returned, once the turn runs; what it raised, raised here."""
        item = await self._items.get()
        if isinstance(item, Refused):
            raise item.error
        assert isinstance(item, Begun)
        return item.started

    async def _next(self) -> Event:
        item = await self._items.get()
        assert not isinstance(item, Begun | Refused)
        return item

    async def first(self) -> Event:
        """The turn's first event: it decides the response's status (an error before any text gets its own)."""
        return await self._next()

    async def events(self) -> AsyncIterator[Event]:
        """The events up to the last (Done or Failed); leaving early (client gone) cancels the turn."""
        try:
            while True:
                event = await self._next()
                yield event
                if not isinstance(event, Delta):
                    return
        finally:
            self.cancelled.set()

    async def outcome(self) -> Done | Failed:
        """Wait for the end of the turn (the deltas are in the outcome's text too)."""
        try:
            while not isinstance(event := await self._next(), Done | Failed):
                pass
            return event
        finally:
            self.cancelled.set()


