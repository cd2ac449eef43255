"""A client that hangs up mid-stream stops the provider call; the usage is recorded as interrupted."""

from __future__ import annotations

import json
import time

import httpx2 as httpx
from sqlmodel import col, select

from core.models import UsageEvent, UsageStatus
from tests.fakes.provider_server import Reply


def test_disconnect_mid_stream_stops_the_provider_and_records_interrupted(api, token, provider, session) -> None:
    chunks = [f" w{i}" for i in range(40)]
    provider.enqueue("openai", Reply(chunks=chunks, chunk_delay=0.05))
    body = {"model": "openai/gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "Count"}]}
    received = 0
    with httpx.Client(timeout=30) as client, client.stream(
            "POST", f"{api.base_url}/chat/completions", content=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":" w' in line:
                received += 1
            if received == 3:
                break  # leaving the block closes the connection mid-stream
    deadline = time.monotonic() + 10
    event = None
    while time.monotonic() < deadline:
        session.expire_all()
        event = session.exec(select(UsageEvent).order_by(col(UsageEvent.id).desc())).first()
        if event is not None:
            break
        time.sleep(0.1)
    assert event is not None, "the interrupted call was never recorded"
    assert (event.status, event.error_kind, event.source) == (UsageStatus.interrupted, "stopped", "api")
    assert 3 <= event.tokens_out < len(chunks)  # counted what was produced, not the whole reply
    time.sleep(0.5)
    session.expire_all()
    assert len(session.exec(select(UsageEvent)).all()) == 1  # recorded once
