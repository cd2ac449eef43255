"""This process's life: ready, or draining after SIGTERM (no new turns, in-flight replies may finish).

The kernel keeps the state; server.py turns SIGTERM into drain() and answers /readyz from draining(); the chat
manager refuses new turns while draining and counts the turns in flight, so the stop waits for them. DrainGate
turns the proxy's new requests away while draining, in a way the shipped nginx retries on another instance.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from core.errors import ServiceDraining
from core.logging import log_event

logger = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 5.0  # after the drain: how long uvicorn waits for connections still open

_lock = threading.Condition()
_draining = False
_in_flight = 0
_quiet_since = 0.0  # while draining: when the last response that may have left its connection open ended


def drain() -> None:
    """From now on: not ready, and no new turns."""
    global _draining, _quiet_since
    with _lock:
        _draining, _quiet_since = True, time.monotonic()
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


def answered_during_drain() -> None:
    """A response begun before the drain ended: its keep-alive connection went back to the proxy's pool."""
    global _quiet_since
    _quiet_since = time.monotonic()


def linger(seconds: float) -> None:
    """Block until `seconds` have passed since the drain began and since the last response that left its connection
    open. Every response during the drain closes its connection (DrainGate), and the proxy drops an idle one after its
    keepalive_timeout: waiting longer than that, the exit finds no idle connection to cut while the proxy sends a
    request on it (a POST cut that way is a 502 nginx cannot retry). Bounded: only responses begun before the drain
    count, and those end within the grace period."""
    while (left := seconds - (time.monotonic() - _quiet_since)) > 0:
        time.sleep(left)


def stop_server(server_handler: object) -> bool:
    """uvicorn's graceful exit, without recording a signal: uvicorn raises again the signal it caught once it has
    stopped, and the process would end killed by SIGTERM (exit -15) instead of exiting 0 after a clean drain.
    False when the handler is not uvicorn's: the caller hands it the signal instead."""
    server = getattr(server_handler, "__self__", None)
    if server is None or not hasattr(server, "should_exit"):
        return False
    config = getattr(server, "config", None)
    if config is not None and getattr(config, "timeout_graceful_shutdown", 0) is None:
        config.timeout_graceful_shutdown = SHUTDOWN_SECONDS  # a reply past the grace period is not waited for
    server.should_exit = True
    return True


def drain_on_sigterm(wait: Callable[[], object], linger_seconds: float = 0.0) -> None:
    """SIGTERM: report not-ready and start no new turn at once (DrainGate sends the proxy's new requests elsewhere);
    wait() lets what is in flight finish; linger(linger_seconds); then the server stops. Call it from the server's
    lifespan, after the server installed its own handler (which it then stops)."""
    try:
        server_handler = signal.getsignal(signal.SIGTERM)
    except ValueError:  # not the main thread (an embedding server): nothing to take over
        return

    handed_over = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if handed_over.is_set() and callable(server_handler):  # another server's handler, on the main thread
            server_handler(signum, frame)
            return
        if draining():  # a second SIGTERM: the drain under way ends the process
            return
        drain()
        log_event(logger, "draining", in_flight=in_flight())
        threading.Thread(target=finish, name="parley-drain", daemon=True).start()

    def finish() -> None:
        wait()
        linger(linger_seconds)
        if not stop_server(server_handler):
            handed_over.set()
            os.kill(os.getpid(), signal.SIGTERM)  # back on the main thread, to the server's own handler

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:
        return


def reset() -> None:
    """Ready again, nothing in flight (tests)."""
    global _draining, _in_flight
    with _lock:
        _draining, _in_flight = False, 0


# The shipped nginx (deploy/nginx) marks each API request it sends: "first", or "retry" when it sends one again
# after a draining instance's 421. Nothing else reads it; a client that sends it itself only changes how a draining
# instance refuses it.
ATTEMPT_HEADER = b"x-parley-attempt"
DRAINING_HEADER = "X-Parley-Draining"
API_PREFIX = "/v1"
UI_STREAM = "/_stcore/stream"


def _refusal(status: int) -> JSONResponse:
    """The API's refusal, in OpenAI's shape, for a request this instance did nothing with."""
    body = {"error": {"message": str(ServiceDraining.user_message), "type": "server_error",
                      "code": "server_restarting", "param": None}}
    return JSONResponse(body, status_code=status, headers={
        "Retry-After": str(ServiceDraining.retry_after_seconds), DRAINING_HEADER: "1", "Connection": "close"})


class DrainGate:
    """ASGI middleware; while draining, this instance takes no new work from the proxy.

    - An API request nginx marked (ATTEMPT_HEADER) is refused before anything runs: 421 Misdirected Request on
      nginx's first try (nginx sends it again, to the other instance: RFC 9110 lets any method be retried after a
      421, nothing was done), 503 on nginx's retry (nginx's next_upstream moves on). Unmarked requests (a client
      on the instance itself) go on to the API, which refuses new turns with 503 and serves the rest.
    - A new UI websocket is refused with 503 (nginx opens it on the other instance); open ones are closed by
      server.py once idle, so their browsers reconnect there.
    - Every other response closes its connection: nginx keeps no idle connection to an instance about to stop.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _draining or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            if _draining and scope["type"] == "http":
                answered_during_drain()
            return
        path: str = scope.get("path", "")
        if scope["type"] == "websocket":
            if path.endswith(UI_STREAM):
                await _refuse_websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        attempt = dict(scope["headers"]).get(ATTEMPT_HEADER)
        if attempt and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await _read_body(receive)
            await _refusal(421 if attempt == b"first" else 503)(scope, receive, send)
            return
        await self.app(scope, receive, _closing(send))


async def _read_body(receive: Receive, limit: int = 4 * 1024 * 1024) -> None:
    """Take the request body before refusing: nginx still writing it to a closed connection would see an error,
    which it does not retry for a POST. Bounded: past `limit` the rest is left."""
    seen = 0
    while seen <= limit:
        message = await receive()
        seen += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _closing(send: Send) -> Send:
    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)
    return send_closing


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    websocket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        await websocket.send_denial_response(_refusal(503))
    else:  # the server cannot answer a handshake with a status: 1013, try again later
        await websocket.close(code=1013)
