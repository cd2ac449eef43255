"""OpenAI's chat-completions wire format: the request we accept, and the bodies and chunks we answer with.

A request field this server would not apply is refused with a 400 naming it (`unsupported_parameter`), never
dropped silently: a client asking for `tools` must not get prose as if it had been heard. Accepted are the fields
Parley applies, and the others only at a value that asks for nothing (null, or their default: `top_p` 1, a penalty
of 0, `response_format` text, ...). What we use is validated strictly.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as BodyError

from core.api.errors import ApiError
from core.i18n import Msg

# A row id as the database stores it (PostgreSQL's integer is 32-bit signed): anything else is a 400 naming the
# parameter, never a query that overflows the column (a 500 on PostgreSQL, an OverflowError on SQLite).
ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]


# The fields Parley applies (knowledge_bases is its own: answer from these knowledge bases, with numbered sources).
APPLIED = frozenset({"model", "messages", "temperature", "max_tokens", "max_completion_tokens", "stop", "stream",
                     "stream_options", "user", "n", "knowledge_bases", "metadata"})  # metadata: a label, no effect
# Fields accepted only at a value that asks for nothing different from leaving them out.
NEUTRAL: dict[str, tuple[object, ...]] = {
    "top_p": (1,), "presence_penalty": (0,), "frequency_penalty": (0,), "logprobs": (False,), "store": (False,),
    "service_tier": ("auto", "default"), "response_format": ({"type": "text"},), "modalities": (["text"],),
    "tools": ([],), "tool_choice": ("none",), "parallel_tool_calls": (True, False), "logit_bias": ({},),
    "functions": ([],), "function_call": ("none",),
}


def unsupported_field(data: dict[str, Any]) -> str | None:
    """The first field of a request body this server would not apply (None when there is none); see the module."""
    for name, value in data.items():
        if name in APPLIED or value is None:
            continue
        if not any(_same(value, neutral) for neutral in NEUTRAL.get(name, ())):
            return str(name)
    return None


def _same(value: object, neutral: object) -> bool:
    """value is the neutral value (True is not 1, 0 is not False: JSON tells them apart)."""
    if isinstance(value, bool) or isinstance(neutral, bool):
        return value is neutral
    return value == neutral


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200)
    messages: list[InputMessage] = Field(min_length=1, max_length=1000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)
    n: int = Field(default=1, ge=1, le=1)  # one choice: anything else is refused, not silently ignored
    # Parley's extra body field: answer from these knowledge bases (ids), with numbered sources; the response's
    # `sources` lists them (openai SDK: extra_body={"knowledge_bases": [3]}).
    knowledge_bases: list[RowId] | None = Field(default=None, max_length=20)

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @model_validator(mode="after")
    def _someone_speaks(self) -> CompletionRequest:
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages need at least one user message")
        return self

    @property
    def reply_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_sequences(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


def read_json(raw: bytes) -> Any:
    """The body's JSON, before anything else (as FastAPI reads a body): a 400 when it is not JSON."""
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", getattr(exc, "pos", 0)),
                                       "msg": "JSON decode error", "input": {}}]) from None


def parse_body(data: Any) -> CompletionRequest:
    """The request as FastAPI would validate it, after authentication: a RequestValidationError (a 400 naming the
    parameter) if it is not one, an ApiError 400 naming a field it would not apply (core.api.schemas)."""
    if data is None:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                       "input": None}])
    unsupported = unsupported_field(data) if isinstance(data, dict) else None
    if unsupported is not None:  # never answered as if it had been applied (tools, response_format, ...)
        raise ApiError(400, str(Msg("api.unsupported_parameter", param=unsupported[:100])),
                       code="unsupported_parameter", param=unsupported[:100])
    try:
        return CompletionRequest.model_validate(data)
    except BodyError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def usage_body(tokens_in: int, tokens_out: int) -> dict[str, int]:
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


def completion_body(*, cid: str, model: str, text: str, finish: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": finish}],
            "usage": usage_body(tokens_in, tokens_out)}


def chunk_body(*, cid: str, created: int, model: str, delta: dict[str, str], finish: str | None,
               with_usage: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if with_usage:
        body["usage"] = None  # OpenAI sends null on every chunk but the last when usage was asked for
    return body


def usage_chunk(*, cid: str, created: int, model: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": usage_body(tokens_in, tokens_out)}


def model_body(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}
