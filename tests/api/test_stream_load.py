"""32 concurrent API streams on SQLite, replies stored as they stream: every stream that delivered its text ends
with [DONE] and is recorded complete — none stalls and ends with a hidden error event (issue 21, row 27)."""

from __future__ import annotations

import json
import threading

import httpx2 as httpx
import pytest
from sqlmodel import Session, func, select

from core.api import create_token
from core.config import get_settings
from core.models import Message, MessageStatus, UsageEvent
from tests.api.conftest import serve_api
from tests.conftest import add_user
from tests.fakes.provider_server import Reply

CLIENTS, STREAMS_EACH, USERS = 32, 6, 16
CHUNKS = [f" w{i}" for i in range(20)]


@pytest.fixture
def busy_env(api_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PARLEY_API__STORE_CONVERSATIONS": "true", "PARLEY_CHAT__STREAM_FLUSH_SECONDS": "0.02",
                        "PARLEY_LIMITS__USER__REQUESTS_PER_MINUTE": "0", "PARLEY_LIMITS__USER__REQUESTS_PER_DAY": "0",
                        "PARLEY_LIMITS__USER__TOKENS_PER_DAY": "0"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_r2_row27_concurrent_streams_on_sqlite_end_whole_and_are_recorded_complete(busy_env, engine, session: Session,
                                                                                   provider, database_url) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the busy writer is SQLite's")
    tokens = [create_token(session=session, user_id=add_user(session, f"load{i}"), name="load").token
              for i in range(USERS)]
    provider.enqueue("openai", *(Reply(chunks=CHUNKS, chunk_delay=0.005) for _ in range(CLIENTS * STREAMS_EACH)))
    api = serve_api()
    failures: list[str] = []

    def client(n: int) -> None:
        body = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": f"Go {n}"}]}
        headers = {"Authorization": f"Bearer {tokens[n % USERS]}", "Content-Type": "application/json"}
        with httpx.Client(timeout=60) as http:
            for _ in range(STREAMS_EACH):
                text, done, errors = [], False, []
                with http.stream("POST", f"{api.base_url}/chat/completions", content=json.dumps(body),
                                 headers=headers) as response:
                    for line in response.iter_lines():
                        if line == "data: [DONE]":
                            done = True
                        elif line.startswith("data: {"):
                            chunk = json.loads(line[6:])
                            if "error" in chunk:
                                errors.append(chunk["error"].get("message", ""))
                            for choice in chunk.get("choices") or ():
                                text.append((choice.get("delta") or {}).get("content") or "")
                if response.status_code != 200 or errors or not done or "".join(text) != "".join(CHUNKS):
                    failures.append(f"{response.status_code} done={done} errors={errors} got={len(text)} parts")

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
    finally:
        api.server.should_exit = True
    assert failures == []
    total = CLIENTS * STREAMS_EACH
    statuses = dict(session.exec(select(UsageEvent.status, func.count()).group_by(UsageEvent.status)).all())
    assert statuses == {"complete": total}
    replies = session.exec(select(Message.status, func.count()).where(Message.role == "assistant")
                           .group_by(Message.status)).all()
    assert dict(replies) == {MessageStatus.complete: total}
