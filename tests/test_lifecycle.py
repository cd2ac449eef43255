"""DrainGate: while draining, the proxy's new requests are refused in a way nginx retries elsewhere (issue 21, #22)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from core import lifecycle
from core.lifecycle import DrainGate

served: list[str] = []


async def api(request: Request) -> JSONResponse:
    served.append(request.url.path)
    return JSONResponse({"ok": True})


async def stream(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def _client() -> TestClient:
    app = Starlette(routes=[Route("/healthz", api), Mount("/v1", routes=[Route("/chat/completions", api,
                                                                                 methods=["POST"])]),
                            WebSocketRoute("/_stcore/stream", stream)])
    return TestClient(DrainGate(app))


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    lifecycle.reset()
    served.clear()
    yield
    lifecycle.reset()


def test_a_ready_instance_serves_everything_as_usual() -> None:
    client = _client()
    response = client.post("/v1/chat/completions", headers={"X-Parley-Attempt": "first"})
    assert response.status_code == 200 and response.headers.get("connection") != "close"
    with client.websocket_connect("/_stcore/stream") as websocket:
        assert websocket.receive_text() == "hello"
    assert served == ["/v1/chat/completions"]


def test_a_draining_instance_refuses_the_proxys_new_api_requests_without_running_them() -> None:
    client = _client()
    lifecycle.drain()
    first = client.post("/v1/chat/completions", headers={"X-Parley-Attempt": "first"})
    assert first.status_code == 421  # nginx sends it again, to the other instance: nothing was done here
    retry = client.post("/v1/chat/completions", headers={"X-Parley-Attempt": "retry"})
    assert retry.status_code == 503  # nginx's next_upstream moves on (or, when both are draining, the client sees it)
    for refused in (first, retry):
        assert refused.headers["X-Parley-Draining"] == "1" and refused.headers["Retry-After"]
        assert refused.headers["connection"] == "close"
        assert refused.json()["error"]["code"] == "server_restarting"
        assert "restarting" in refused.json()["error"]["message"]
    assert served == []


def test_a_draining_instance_lets_direct_requests_through_and_closes_connections() -> None:
    client = _client()
    lifecycle.drain()
    direct = client.post("/v1/chat/completions")  # no proxy mark: the API itself refuses new turns (503)
    health = client.get("/healthz")
    assert direct.status_code == health.status_code == 200
    assert direct.headers["connection"] == health.headers["connection"] == "close"
    assert served == ["/v1/chat/completions", "/healthz"]


def test_a_draining_instance_refuses_new_ui_websockets_with_503() -> None:
    from starlette.testclient import WebSocketDenialResponse

    client = _client()
    lifecycle.drain()
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/_stcore/stream"):
        pass
    assert denied.value.status_code == 503


class _Clock:
    """lifecycle's `time`, standing still until the code under test sleeps."""

    def __init__(self) -> None:
        self.now, self.slept = 100.0, []  # type: ignore[var-annotated]

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_exit_waits_until_no_connection_the_proxy_may_still_use_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI flake (rolling restart, 1 of 406 API requests): a fresh POST got nginx's 502. A drained instance exited at
    once and cut the keep-alive connections nginx still held idle; a POST nginx had just sent on one failed after it
    was sent, which nginx may not retry. Now the exit waits `drain_linger_seconds` after the drain began and after
    the last response that kept its connection open (one begun before the drain); nginx drops idle ones sooner."""
    clock = _Clock()
    monkeypatch.setattr(lifecycle, "time", clock)
    lifecycle.drain()  # at 100
    clock.now = 101.0
    lifecycle.linger(4.0)
    assert clock.slept == [3.0] and clock.now == 104.0  # 4 s after the drain began
    clock.now = 110.0
    lifecycle.answered_during_drain()  # a reply begun before the drain ends at 110: its connection went back idle
    clock.now = 111.5
    lifecycle.linger(4.0)
    assert clock.slept[1:] == [2.5] and clock.now == 114.0
    lifecycle.linger(0.0)  # no linger set: the exit is not held
    assert len(clock.slept) == 2


def test_a_response_begun_before_the_drain_restarts_the_linger_and_keeps_its_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(lifecycle, "time", clock)

    async def answer_while_sigterm_arrives(request: Request) -> JSONResponse:
        lifecycle.drain()  # at 100, while this request (begun before it) runs
        clock.now += 3.0  # the reply takes 3 s more
        return JSONResponse({"ok": True})

    client = TestClient(DrainGate(Starlette(routes=[Route("/v1/models", answer_while_sigterm_arrives)])))
    response = client.get("/v1/models")
    assert response.status_code == 200 and response.headers.get("connection") != "close"
    clock.now = 104.0
    lifecycle.linger(4.0)
    assert clock.slept == [3.0]  # counted from the end of that response (at 103), not from the drain (100)
    refused = client.get("/v1/models", headers={"X-Parley-Attempt": "first"})
    assert refused.status_code == 421 and refused.headers["connection"] == "close"
    clock.now = 200.0
    lifecycle.linger(4.0)  # refusals close their connection: they never hold the exit
    assert clock.slept == [3.0]
