"""The API under test: create_api() served by a real uvicorn in this process (mounted at /v1, as server.py does),
Parley's providers pointed at the local OpenAI-protocol server, and users with personal tokens."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.routing import Mount

from core.api import create_api, create_token
from core.config import get_settings
from core.models import User
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer


@dataclass
class Api:
    base_url: str  # …/v1, what an OpenAI client is pointed at
    server: uvicorn.Server


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProviderServer]:
    srv = FakeProviderServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _fresh_provider(provider: FakeProviderServer) -> None:
    """Replies one test queued and did not use must not answer the next test."""
    for queue in provider.queues.values():
        queue.clear()
    provider.history.clear()


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, provider: FakeProviderServer, parley_env) -> None:  # type: ignore[no-untyped-def]
    """OpenAI (organisation key) and an OpenAI-compatible server, both on the fake; no retries."""
    for name, value in {
        "OPENAI_API_KEY": "sk-good-key", "PARLEY_PROVIDERS__OPENAI__BASE_URL": provider.openai_url,
        "PARLEY_PROVIDERS__OPENAI__MAX_RETRIES": "0", "PARLEY_PROVIDERS__OPENAI__TIMEOUT_SECONDS": "2",
        "PARLEY_PROVIDERS__COMPATIBLE__TIMEOUT_SECONDS": "2",
        "PARLEY_COMPATIBLE_BASE_URL": provider.openai_url, "PARLEY_PROVIDERS__COMPATIBLE__MAX_RETRIES": "0",
        "PARLEY_COMPATIBLE_API_KEY": "sk-good-key", "PARLEY_CHAT__FALLBACK": "[openai, compatible]",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_api() -> Api:
    port = _free_port()
    app = Starlette(routes=[Mount("/v1", app=create_api())])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    return Api(f"http://127.0.0.1:{port}/v1", server)


@pytest.fixture
def api(api_env: None, engine: Engine) -> Iterator[Api]:
    served = serve_api()
    yield served
    served.server.should_exit = True


@pytest.fixture
def keeping_api(api_env: None, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The API with api.store_conversations on (its own manager: the setting is read when it is built)."""
    from core.chat import chat_manager

    monkeypatch.setenv("PARLEY_API__STORE_CONVERSATIONS", "true")
    get_settings.cache_clear()
    chat_manager.cache_clear()
    served = serve_api()
    yield served
    served.server.should_exit = True


def kept_texts(session: Session) -> list[tuple[str, str]]:
    """The one kept conversation's messages as (role, text), in order."""
    from sqlmodel import col

    from core.models import Conversation, Message

    conv = session.exec(select(Conversation)).one()
    return [(m.role, m.content) for m in session.exec(select(Message).where(Message.conversation_id == conv.id)
                                                      .order_by(col(Message.id)))]


@pytest.fixture
def alice(session: Session) -> int:
    return add_user(session, "alice")


@pytest.fixture
def token(session: Session, alice: int) -> str:
    return create_token(session=session, user_id=alice, name="laptop script").token


@pytest.fixture
def admin_id(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()
