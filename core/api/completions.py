"""POST /v1/chat/completions and GET /v1/models: the chat's own pipeline behind OpenAI's wire format.

Validation, limits, key resolution (own key, else the organisation's), the fallback chain, the response cache
and one usage event (source api, the token's name) are the ConversationManager's, exactly as in Chat.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.api.errors import PROVIDER_STATUS, ApiError
from core.api.schemas import (
    CompletionRequest,
    chunk_body,
    completion_body,
    completion_id,
    model_body,
    usage_chunk,
)
from core.api.streaming import Delta, Event, Failed, TurnStream
from core.chat import ProviderChooser, TurnOptions, TurnOutcome
from core.config import Settings
from core.i18n import Msg
from core.knowledge import Hit
from core.models import MessageStatus
from core.providers.base import ChatMessage

LENGTH_REASONS = {"length", "max_tokens"}


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model: str

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"


def catalog(settings: Settings) -> dict[str, ModelRef]:
    """Every model id the API knows: provider/model always; a bare model name when no other provider has it."""
    refs = [ModelRef(p, m) for p, c in settings.providers.items() for m in c.models]
    by_id = {r.id: r for r in refs}
    names = [r.model for r in refs]
    by_id.update({r.model: r for r in refs if names.count(r.model) == 1 and r.model not in by_id})
    return by_id


def find_model(model_id: str, settings: Settings) -> ModelRef:
    ref = catalog(settings).get(model_id)
    if ref is None:
        raise ApiError(404, str(Msg("api.unknown_model", model=model_id[:200])), code="model_not_found",
                       param="model")
    return ref


def usable(ref: ModelRef, providers: ProviderChooser) -> None:
    """403 when the model exists but this user cannot use it now (no key, admins only, ...), saying why."""
    choice = providers.choose(ref.provider)
    if choice.unavailable_reason:
        raise ApiError(403, str(Msg("api.model_not_allowed", model=ref.id, reason=choice.unavailable_reason)),
                       code="model_not_allowed", param="model")


def list_models(providers: ProviderChooser) -> list[dict[str, object]]:
    return [model_body(f"{o.name}/{m}", o.name) for o in providers.options() if o.unavailable is None
            for m in o.models]


def turn_inputs(body: CompletionRequest, ref: ModelRef, settings: Settings) -> tuple[TurnOptions, list[ChatMessage]]:
    """The turn's options (system and developer messages become its system prompt) and its conversation."""
    system = "\n\n".join(m.text for m in body.messages if m.role in ("system", "developer") and m.text)
    options = TurnOptions(
        provider=ref.provider, model=ref.model,
        temperature=settings.chat.default_temperature if body.temperature is None else body.temperature,
        max_tokens=body.reply_limit or settings.chat.default_max_tokens, system_prompt=system,
        stop=tuple(body.stop_sequences), knowledge_bases=tuple(body.knowledge_bases or ()))
    conversation = [ChatMessage(m.role, m.text) for m in body.messages if m.role in ("user", "assistant")]
    return options, conversation


def finish_reason(outcome: TurnOutcome) -> str:
    return "length" if outcome.stop_reason in LENGTH_REASONS else "stop"


def failure(outcome: TurnOutcome) -> ApiError | None:
    """The error to answer with when the turn did not complete (after the whole fallback chain)."""
    if outcome.status == MessageStatus.complete:
        return None
    kind = outcome.error_kind or "provider_error"
    if kind == "invalid_request":
        return ApiError(400, outcome.error or "invalid request", code="context_length_exceeded", param="messages")
    return ApiError(PROVIDER_STATUS.get(kind, 502), outcome.error or "provider error", code=kind)


def complete(outcome: TurnOutcome, ref: ModelRef, sources: tuple[Hit, ...] = ()) -> dict[str, object]:
    usage = outcome.usage
    body = completion_body(cid=completion_id(), model=f"{outcome.provider}/{outcome.model}" if outcome.provider
                           else ref.id, text=outcome.text, finish=finish_reason(outcome),
                           tokens_in=usage.tokens_in if usage else 0, tokens_out=usage.tokens_out if usage else 0)
    if sources:  # what the reply's [n] citations point at
        body["sources"] = [{"n": n, "document": h.document_name, "document_id": h.document_id,
                            "knowledge_base_id": h.kb_id, "page": h.page, "section": h.section, "snippet": h.text}
                           for n, h in enumerate(sources, start=1)]
    return body


def _sse(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def sse(first: Event, stream: TurnStream[Any], ref: ModelRef, include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's stream: a role chunk, content chunks, a finish chunk, the usage chunk if asked, [DONE]."""
    cid, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        return _sse(chunk_body(cid=cid, created=created, model=ref.id, delta=delta, finish=finish,
                               with_usage=include_usage))

    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in _from(first, stream):
            if isinstance(event, Delta):
                yield chunk({"content": event.text})
                continue
            # Failed after text was sent: OpenAI's SDKs raise on an error event inside the stream.
            if isinstance(event, Failed):
                yield _sse({"error": {"message": str(Msg("api.unexpected", id=event.correlation_id)),
                                      "type": "server_error", "code": "server_error", "param": None}})
                break
            outcome = event.outcome
            problem = failure(outcome)
            if problem is None:
                yield chunk({}, finish_reason(outcome))
            else:
                yield _sse({"error": {"message": problem.message, "type": "server_error", "code": problem.code,
                                      "param": None}})
            if include_usage and outcome.usage is not None:
                yield _sse(usage_chunk(cid=cid, created=created, model=ref.id, tokens_in=outcome.usage.tokens_in,
                                       tokens_out=outcome.usage.tokens_out))
        yield "data: [DONE]\n\n"
    finally:
        stream.cancel()  # the client left (or all is sent): a turn still running stops at its next delta


async def _from(first: Event, stream: TurnStream[Any]) -> AsyncIterator[Event]:
    yield first
    if isinstance(first, Delta):
        async for event in stream.events():
            yield event
