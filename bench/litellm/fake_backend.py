"""The fake OpenAI-protocol upstream that bench/api_gateway.py puts behind all three targets (direct, LiteLLM,
Parley), so each does the same upstream work.

    python -m uvicorn fake_backend:app --app-dir bench/litellm --host 127.0.0.1 --port PORT --workers 1

POST /v1/chat/completions, the same timing in both modes (FAKE_FIRST_MS before the first token, then FAKE_CHUNKS
words FAKE_GAP_MS apart, on a fixed schedule from the request's arrival):
  stream=true   SSE: a role chunk, one chunk per word, a finish chunk, a usage chunk (always, as OpenAI does with
                stream_options.include_usage), `data: [DONE]`
  stream=false  JSON with the whole text and usage, sent when the last word would have been
Parley always streams from its provider, LiteLLM forwards `stream` as it came: the equal timing keeps their
upstream work the same. GET /v1/models lists the one model. No key is checked (any Bearer token is taken).

A raw ASGI app (no framework) under uvicorn with uvloop and httptools, in its own process: it must cost far less
CPU per request than the proxies in front of it, and share no interpreter with the load client.
tests/fakes/provider_server.py is not used: it answers every completion as SSE (LiteLLM's plain path needs
JSON) and runs a thread per connection in the caller's process.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

FIRST_MS = float(os.environ.get("FAKE_FIRST_MS", "20"))
GAP_MS = float(os.environ.get("FAKE_GAP_MS", "2"))
CHUNKS = int(os.environ.get("FAKE_CHUNKS", "20"))
WORDS = [f"word{i:02d} " for i in range(CHUNKS)]
TEXT = "".join(WORDS)
PROMPT_TOKENS = 12
USAGE = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": CHUNKS, "total_tokens": PROMPT_TOKENS + CHUNKS,
         "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def _sleep_until(deadline: float) -> None:
    # A fixed schedule (not sleep after sleep): a stream ends when the plain reply would have been sent.
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def _chunk(base: dict[str, Any], delta: dict[str, Any] | None, finish: str | None = None,
           usage: dict[str, Any] | None = None) -> bytes:
    event = {**base, "choices": [] if delta is None else
             [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if usage is not None:
        event["usage"] = usage
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


async def _stream(send: Send, base: dict[str, Any], start: float) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    await send({"type": "http.response.body", "more_body": True,
                "body": _chunk(base, {"role": "assistant", "content": ""})})
    for i, word in enumerate(WORDS):
        await _sleep_until(start + (FIRST_MS + i * GAP_MS) / 1000)
        await send({"type": "http.response.body", "body": _chunk(base, {"content": word}), "more_body": True})
    tail = _chunk(base, {}, "stop") + _chunk(base, None, usage=USAGE) + b"data: [DONE]\n\n"
    await send({"type": "http.response.body", "body": tail})


async def _plain(send: Send, base: dict[str, Any], start: float) -> None:
    await _sleep_until(start + (FIRST_MS + (CHUNKS - 1) * GAP_MS) / 1000)
    await _json(send, 200, {**base, "object": "chat.completion", "usage": USAGE, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": TEXT, "refusal": None}, "logprobs": None,
         "finish_reason": "stop"}]})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    start = time.perf_counter()
    path, method = scope["path"], scope["method"]
    if method == "GET" and path == "/v1/models":
        await _json(send, 200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0,
                                                            "owned_by": "fake"}]})
        return
    if method != "POST" or path != "/v1/chat/completions":
        await _json(send, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        return
    body = json.loads(await _body(receive) or b"{}")
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"), "system_fingerprint": "fp_bench"}
    await (_stream if body.get("stream") else _plain)(send, base, start)
