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
from core.api.parts import FileData, FilePart, ImagePart, ImageUrl, Part, TextPart
from core.api.tools import InputToolCall, NamedChoice, ResponseFormat, ToolDef, tool_calls_body
from core.i18n import Msg
from core.providers.base import ToolCall, Tooling

# A row id as the database stores it (PostgreSQL's integer is 32-bit signed): anything else is a 400 naming the
# parameter, never a query that overflows the column (a 500 on PostgreSQL, an OverflowError on SQLite).
ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]


# The fields Parley applies (knowledge_bases is its own: answer from these knowledge bases, with numbered sources);
# tools, tool_choice and response_format go to the provider when the model can take them (else a 400 naming them).
APPLIED = frozenset({"model", "messages", "temperature", "max_tokens", "max_completion_tokens", "stop", "stream",
                     "stream_options", "user", "n", "knowledge_bases", "metadata",  # metadata: a label, no effect
                     "tools", "tool_choice", "parallel_tool_calls", "response_format"})
# Fields accepted only at a value that asks for nothing different from leaving them out.
NEUTRAL: dict[str, tuple[object, ...]] = {
    "top_p": (1,), "presence_penalty": (0,), "frequency_penalty": (0,), "logprobs": (False,), "store": (False,),
    "service_tier": ("auto", "default"), "modalities": (["text"],), "logit_bias": ({},),
    "functions": ([],), "function_call": ("none",),  # the deprecated form of tools: ask with tools instead
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


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Part] | None = None  # None only for an assistant's tool calls
    tool_calls: list[InputToolCall] | None = Field(default=None, max_length=128)  # an assistant's
    tool_call_id: str | None = Field(default=None, min_length=1, max_length=200)  # a tool result's

    @model_validator(mode="after")
    def _shape(self) -> InputMessage:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages have tool_calls")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a tool message needs tool_call_id (and only a tool message has one)")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (null only for an assistant's tool calls)")
        if (self.images or self.files) and self.role != "user":
            raise ValueError("only user messages have image_url and file parts")
        return self

    @property
    def text(self) -> str:
        content = self.content or ""
        return content if isinstance(content, str) else "".join(p.text for p in content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImageUrl]:
        content = self.content or ""
        return [] if isinstance(content, str) else [p.image_url for p in content if isinstance(p, ImagePart)]

    @property
    def files(self) -> list[FileData]:
        content = self.content or ""
        return [] if isinstance(content, str) else [p.file for p in content if isinstance(p, FilePart)]


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
    tools: list[ToolDef] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None

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
        names = [t.function.name for t in self.tools or ()]
        if len(set(names)) != len(names):
            raise ValueError("tools need distinct names")
        choice = self.tool_choice
        if isinstance(choice, NamedChoice) and choice.function.name not in names:
            raise ValueError("tool_choice names a function that is not in tools")
        if choice == "required" and not names:
            raise ValueError("tool_choice required needs tools")
        return self

    def tooling(self) -> Tooling | None:
        """The tools and format asked for, as the providers get them; None when nothing beyond text is asked."""
        tools = tuple(t.model_dump(exclude_none=True) for t in self.tools or ())
        choice = self.tool_choice.model_dump() if isinstance(self.tool_choice, BaseModel) else self.tool_choice
        fmt = self.response_format
        response_format = fmt.model_dump(exclude_none=True, by_alias=True) if fmt and fmt.type != "text" else None
        in_conversation = any(m.tool_calls or m.role == "tool" for m in self.messages)
        if not (tools or response_format or in_conversation):
            return None  # tool_choice / parallel_tool_calls without tools ask for nothing
        return Tooling(tools, choice if tools else None, self.parallel_tool_calls if tools else None,
                       response_format, in_conversation)

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


def completion_body(*, cid: str, model: str, text: str, finish: str, tokens_in: int, tokens_out: int,
                    tool_calls: tuple[ToolCall, ...] = ()) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if tool_calls:
        message["tool_calls"] = tool_calls_body(tool_calls)
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage_body(tokens_in, tokens_out)}


def chunk_body(*, cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None,
               with_usage: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if with_usage:
        body["usage"] = None  # OpenAI sends null on every chunk but the last when usage was asked for
    return body


def usage_chunk(*, cid: str, created: int, model: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": usage_body(tokens_in, tokens_out)}


def model_body(model_id: str, owner: str, capabilities: list[str] | None = None, context_window: int | None = None,
               display_name: str = "", description: str = "", max_output: int | None = None) -> dict[str, Any]:
    """OpenAI's model object; Parley adds what the model takes (chat, tools, json_mode, embeddings), its window,
    and the catalog's name, description and reply cap where an admin set them."""
    body: dict[str, Any] = {"id": model_id, "object": "model", "created": 0, "owned_by": owner}
    extra = {"capabilities": capabilities, "context_window": context_window, "max_output": max_output,
             "display_name": display_name or None, "description": description or None}
    body.update({name: value for name, value in extra.items() if value is not None})
    return body
