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
