"""A local HTTP server speaking the OpenAI and Anthropic wire protocols (SSE streaming included).

Tests enqueue Reply objects per protocol; each request pops one (or gets the default reply).
It can answer errors with status codes and headers, stall before answering (timeouts), wait
before the first token, and drop the connection in the middle of a stream.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake."])
    tokens_in: int = 12
    tokens_out: int = 4
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "fake error"
    first_delay: float = 0.0  # seconds before the first token
    chunk_delay: float = 0.0
    stall: float = 0.0  # seconds before answering at all (client timeouts)
    drop_after: int | None = None  # send this many chunks, then cut the connection
    model: str | None = None
    include_usage: bool = True
    cached_tokens: int = 0  # of tokens_in, reported as read from the provider's prompt cache
    finish_reason: str = "stop"  # "length": cut at max_tokens (Anthropic: "max_tokens")
    byte_writes: bool = False  # each event written one byte at a time (a character split across network reads)
    # Tool calls after the text: (id, name, arguments); a stream sends each call's arguments in three pieces
    # (OpenAI: tool_calls deltas by index; Anthropic: input_json_delta events of a tool_use block).
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-reply (timeouts, drops) are expected here


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


LISTED = (("fake-model", "Fake"),)  # the models GET /v1/models lists unless a test changes server.listed


class FakeProviderServer:
    """Start with .start(); base URLs: .openai_url (…/v1) and .anthropic_url."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply]] = {"openai": deque(), "anthropic": deque()}
        self.valid_keys = {"sk-good-key", "sk-ant-good-key"}
        self.history: list[Call] = []
        self.redirect_to: str | None = None  # answer every request 307 to this origin (+ the request's path)
        self.models_page: bytes | None = None  # answer GET /v1/models 200 with this HTML instead of the API's JSON
        self.listed: list[tuple[str, str]] = list(LISTED)  # (id, display name) GET /v1/models answers with
        self._server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        # stop() waits for serve_forever's next poll: 0.5 s by default, after every test that starts one.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, protocol: str, *replies: Reply) -> None:
        self.queues[protocol].extend(replies)

    def next_reply(self, protocol: str) -> Reply:
        queue = self.queues[protocol]
        return queue.popleft() if queue else Reply()

    def start(self) -> FakeProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, path_suffix: str) -> list[Call]:
        return [c for c in self.history if c.path.endswith(path_suffix)]


def _make_handler(server: FakeProviderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as real API servers do: each SSE chunk leaves at once

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _read_json(self) -> dict[str, Any]:
            length = int(self.headers.get("content-length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _key(self) -> str:
            auth = self.headers.get("authorization", "")
            return auth.removeprefix("Bearer ").strip() or self.headers.get("x-api-key", "")

        def _redirected(self) -> bool:
            if server.redirect_to is None:
                return False
            self.send_response(307)
            self.send_header("location", server.redirect_to + self.path)
            self.send_header("content-length", "0")
            self.end_headers()
            return True

        def do_GET(self) -> None:  # noqa: N802
            server.history.append(Call(self.path, {}, {k.lower(): v for k, v in self.headers.items()}))
            if self._redirected():
                return None
            if server.models_page is not None and self.path.startswith("/v1/models"):
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(server.models_page)))
                self.end_headers()
                self.wfile.write(server.models_page)
                return None
            if not self.path.startswith("/v1/models"):
                return self._json(404, {"error": {"message": "not found"}})
            if self._key() not in server.valid_keys:
                return self._error(401, "invalid api key", self.path)
            data = [{"id": model_id, "object": "model", "type": "model", "created": 0, "owned_by": "fake",
                     "display_name": name, "created_at": "2026-01-01T00:00:00Z"} for model_id, name in server.listed]
            self._json(200, {"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})

        def do_POST(self) -> None:  # noqa: N802
            body = self._read_json()
            server.history.append(Call(self.path, body, {k.lower(): v for k, v in self.headers.items()}))
            if self._redirected():
                return None
            if self.path.startswith("/v1/embeddings"):
                if self._key() not in server.valid_keys:
                    return self._error(401, "invalid api key", self.path)
                inputs = body.get("input") or []
                inputs = [inputs] if isinstance(inputs, str) else inputs
                return self._json(200, {"object": "list", "model": body.get("model", "fake-embed"),
                                        "data": [{"object": "embedding", "index": i, "embedding": bag_of_words(text)}
                                                 for i, text in enumerate(inputs)],
                                        "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})
            protocol = "anthropic" if self.path.startswith("/v1/messages") else "openai"
            reply = server.next_reply(protocol)
            if reply.stall:
                time.sleep(reply.stall)
            if reply.status != 200:
                return self._error(reply.status, reply.error_message, self.path, reply.headers)
            model = reply.model or body.get("model", "fake-model")
            if not body.get("stream"):  # a plain request: the same work (delays), one JSON body
                return self._plain(reply, model, protocol)
            events = _openai_events(reply, model) if protocol == "openai" else _anthropic_events(reply, model)
            self._stream(events, reply)

        def _plain(self, reply: Reply, model: str, protocol: str) -> None:
            if reply.drop_after is not None:  # cut before the body: the client sees the connection end
                time.sleep(reply.first_delay)
                self._drop()
                return
            time.sleep(reply.first_delay + reply.chunk_delay * max(0, len(reply.chunks) - 1))
            payload = _openai_body(reply, model) if protocol == "openai" else _anthropic_body(reply, model)
            self._json(200, payload)

        def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, path: str, headers: dict[str, str] | None = None) -> None:
            if path.startswith("/v1/messages") or self.headers.get("anthropic-version"):
                kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}
                payload = {"type": "error", "error": {"type": kind.get(status, "api_error"), "message": message}}
            else:
                payload = {"error": {"message": message, "type": "error", "code": str(status)}}
            self._json(status, payload, headers)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _stream(self, events: list[tuple[bool, bytes]], reply: Reply) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            sent = 0
            for index, (is_text, data) in enumerate(events):
                if is_text:
                    if reply.drop_after is not None and sent >= reply.drop_after:
                        self._drop()
                        return
                    time.sleep(reply.first_delay if sent == 0 else reply.chunk_delay)
                    sent += 1
                if reply.byte_writes:
                    for at in range(len(data)):
                        self._chunk(data[at:at + 1])
                else:
                    self._chunk(data)
                del index
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _drop(self) -> None:
            # Cut the connection without the closing chunk: the client sees an incomplete body.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler


def bag_of_words(text: str, dims: int = 64) -> list[float]:
    """A deterministic embedding: hashed word counts (texts sharing words are similar)."""
    import hashlib

    vector = [0.0] * dims
    for word in text.lower().split():
        vector[int(hashlib.md5(word.strip(".,?!").encode()).hexdigest(), 16) % dims] += 1.0
    return vector


_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls and reply.finish_reason == "stop" else reply.finish_reason


def _anthropic_stop(reply: Reply) -> str | None:
    return _ANTHROPIC_STOP.get(_finish(reply))


def _thirds(text: str) -> list[str]:
    """text in three pieces (a stream's deltas of a call's arguments)."""
    step = max(1, len(text) // 3)
    return [text[:step], text[step:2 * step], text[2 * step:]]


def _sse(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


def _openai_events(reply: Reply, model: str) -> list[tuple[bool, bytes]]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}
    events = [(False, _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                 "finish_reason": None}]}))]
    for text in reply.chunks:
        events.append((True, _sse({**base, "choices": [{"index": 0, "delta": {"content": text},
                                                        "finish_reason": None}]})))
    for index, (call_id, name, arguments) in enumerate(reply.tool_calls):
        pieces = _thirds(json.dumps(arguments))
        first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        deltas = [first, *({"index": index, "function": {"arguments": piece}} for piece in pieces)]
        events += [(False, _sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [d]},
                                                      "finish_reason": None}]})) for d in deltas]
    events.append((False, _sse({**base, "choices": [{"index": 0, "delta": {},
                                                     "finish_reason": _finish(reply)}]})))
    if reply.include_usage:
        events.append((False, _sse({**base, "choices": [], "usage": _openai_usage(reply)})))
    events.append((False, b"data: [DONE]\n\n"))
    return events


def _openai_usage(reply: Reply) -> dict[str, Any]:
    return {"prompt_tokens": reply.tokens_in, "completion_tokens": reply.tokens_out,
            "total_tokens": reply.tokens_in + reply.tokens_out,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens}}


def _openai_body(reply: Reply, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(reply.chunks) or None},
                     "finish_reason": _finish(reply)}]}
    if reply.tool_calls:
        body["choices"][0]["message"]["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in reply.tool_calls]
    if reply.include_usage:
        body["usage"] = _openai_usage(reply)
    return body


def _anthropic_body(reply: Reply, model: str) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "".join(reply.chunks)}] * bool(reply.chunks) + [
                {"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in reply.tool_calls],
            "stop_reason": _anthropic_stop(reply), "stop_sequence": None,
            "usage": {"input_tokens": reply.tokens_in - reply.cached_tokens, "output_tokens": reply.tokens_out,
                      "cache_read_input_tokens": reply.cached_tokens, "cache_creation_input_tokens": 0}}


def _anthropic_events(reply: Reply, model: str) -> list[tuple[bool, bytes]]:
    message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": reply.tokens_in - reply.cached_tokens, "output_tokens": 1,
                         "cache_read_input_tokens": reply.cached_tokens, "cache_creation_input_tokens": 0}}
    events = [
        (False, _sse({"type": "message_start", "message": message}, "message_start")),
        (False, _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                     "content_block_start")),
    ]
    for text in reply.chunks:
        events.append((True, _sse({"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": text}}, "content_block_delta")))
    events.append((False, _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")))
    for index, (call_id, name, arguments) in enumerate(reply.tool_calls, start=1):
        start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        events.append((False, _sse({"type": "content_block_start", "index": index, "content_block": start},
                                   "content_block_start")))
        events += [(False, _sse({"type": "content_block_delta", "index": index,
                                 "delta": {"type": "input_json_delta", "partial_json": piece}}, "content_block_delta"))
                   for piece in _thirds(json.dumps(arguments))]
        events.append((False, _sse({"type": "content_block_stop", "index": index}, "content_block_stop")))
    events += [
        (False, _sse({"type": "message_delta", "delta": {"stop_reason": _anthropic_stop(reply),
                                                         "stop_sequence": None},
                      "usage": {"output_tokens": reply.tokens_out}}, "message_delta")),
        (False, _sse({"type": "message_stop"}, "message_stop")),
    ]
    return events
