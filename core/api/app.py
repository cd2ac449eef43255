"""The OpenAI-compatible API at /v1: mounted inside the Streamlit server (server.py: one process, UI and API), and
served alone by `python -m core.api` (API workers on every core).

Endpoints are coroutines that never block: each request's blocking work — who the caller is (core.api.context),
its limits, starting the turn, the provider call, the writes — is one job on the API's own bounded executor, and
the response waits for it on the event loop (core.api.respond). Nothing runs on the server's shared thread pool
(anyio's, which Streamlit's static files and the health checks use), so API load never queues the pages.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations.
import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from slowapi.errors import RateLimitExceeded
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api import completions as api
from core.api import embeddings
from core.api.admission import CONCURRENCY, WINDOWS, ConcurrencyCap, Slot, record_refusal
from core.api.context import CallerContext, CallerContexts
from core.api.errors import (
    ApiError,
    UnexpectedErrors,
    error_response,
    from_app_error,
    on_api_error,
    on_http_error,
    on_invalid_body,
)
from core.api.images import read_documents, read_images
from core.api.limits import ApiLimits
from core.api.respond import Started, respond, turn_of
from core.api.schemas import CompletionRequest, parse_body, read_json
from core.api.streaming import TurnStream
from core.chat import Charged, EmbeddingMeter, PlainCalls, chat_manager
from core.config import Settings, get_settings
from core.errors import AppError, AuthError
from core.i18n import Msg
from core.providers.images import Image


class BodyLimit:
    """413 for a body over the configured size, whether it says its length or streams it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, self._message(), code="request_too_large")(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return str(Msg("api.too_large", kb=self.max_bytes // 1024))


TEAM_HEADER = "x-parley-team"
T = TypeVar("T")


class Held:
    """What a request holds until its turn ends (its concurrency slot), released once from any thread."""

    slot: Slot | None = None

    def release(self) -> None:
        if self.slot is not None:
            self.slot.release()


def create_api(settings: Settings | None = None) -> FastAPI:
    """The /v1 app: chat completions (plain and streamed), embeddings, models, errors in OpenAI's shape."""
    settings = settings or get_settings()
    app = FastAPI(title="Parley API", docs_url=None, redoc_url=None, openapi_url=None)
    limits = ApiLimits(settings)
    # A running request holds one worker from its start until its turn ends; one user may hold at most
    # max_concurrent_per_user of them (a smaller number, checked at start-up), so the others always keep workers.
    executor = ThreadPoolExecutor(max_workers=settings.api.workers, thread_name_prefix="parley-api")
    cap = ConcurrencyCap(settings.api.max_concurrent_per_user)
    manager = chat_manager(settings.sqlalchemy_url)
    contexts = CallerContexts(settings=settings, engine=manager.engine, manager=manager, limits=limits.service)
    app.state.contexts = contexts
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_kb * 1024)
    app.add_middleware(UnexpectedErrors)  # added last: the outermost of ours, around everything else
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid_body)
    app.add_exception_handler(StarletteHTTPException, on_http_error)

    async def off_loop(work: Callable[..., T], *args: Any) -> T:
        """work on the API's executor (never the server's shared pool)."""
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(work, *args))

    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        error = from_app_error(exc)
        error.headers.update(await off_loop(limits.headers, request))
        return await on_api_error(request, error)

    async def on_rate_limited(request: Request, exc: Exception) -> JSONResponse:
        # slowapi's refusal: one of the caller's request windows (shared with the chat) is full.
        headers = await off_loop(limits.headers, request)
        reset = headers.get("x-ratelimit-reset-requests", "1s").rstrip("s")
        headers["Retry-After"] = str(max(1, int(reset)))
        return error_response(429, str(Msg("api.too_many_requests", seconds=headers["Retry-After"])),
                              code="rate_limit_exceeded", headers=headers)

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RateLimitExceeded, on_rate_limited)

    def authenticated(request: Request) -> CallerContext:
        """The token's caller, team and limits (cached while nothing they are made of changes); 401 (or 429 when
        guessing) otherwise. Runs on the executor."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, str(Msg("api.missing_token")), code="missing_api_key")
        try:
            context = contexts.get(token.strip(), request.headers.get(TEAM_HEADER))
        except AuthError as exc:
            # Only failures are counted, and the throttle is asked only once the token failed: a valid token is
            # accepted from an address others are guessing from (behind a proxy, that is every user's). Letting
            # a throttled address still present tokens is safe: a token is 256 random bits, stored only as an
            # HMAC under a server key, so no rate of guessing finds one. The 429 tells a script with a wrong
            # token to stop; the message never says which part was wrong, nor echoes the token.
            client = request.client.host if request.client else "unknown"
            refusal = limits.failed_auth(client)
            raise refusal or ApiError(401, str(exc.user_message), code="invalid_api_key") from None
        limits.publish(request, context.caller.user_id, *context.limits)
        request.state.team_id = context.team.id if context.team is not None else None
        return context

    @limits.requests
    def counted_start(request: Request, body: CompletionRequest, context: CallerContext,
                      calls: PlainCalls, images: list[tuple[Image, ...]],
                      documents: list[tuple[tuple[str, str], ...]]) -> Started:
        """The turn, once the request windows took it (slowapi's shared limit, around this function)."""
        ref = api.find_model(body.model, context.providers.settings)
        api.usable(ref, context.providers)
        options, conversation = api.turn_inputs(body, ref, context.providers.settings, images, documents)
        headers = limits.headers(request)  # read before the turn exists: nothing can fail between the two
        caller = context.caller
        turn = manager.ask(user_id=caller.user_id, conversation=conversation, options=options,
                           providers=context.providers, token_name=caller.token_name,
                           count_request=False,  # slowapi took the request slot
                           limits=context.limits, team=request.state.team_id, charged=Charged(context.team),
                           plain=not body.stream, calls=calls)
        return Started(turn, body, ref, headers)

    def start(request: Request, data: Any, held: Held, calls: PlainCalls) -> Started:
        """A completion request's blocking part, up to its running turn: the caller (401), the body (400), the
        model (404), the user's concurrency cap and request windows (429, recorded in usage as refused), the
        turn's own checks. The slot taken is held (by held) until the turn ends."""
        context = authenticated(request)
        body = parse_body(data)
        caller = context.caller
        ref = api.find_model(body.model, context.providers.settings)
        api.capable(ref, body, context.providers)  # a 400 like the body's own: nothing counted or recorded
        refused = functools.partial(record_refusal, settings=settings, user_id=caller.user_id,
                                    provider=ref.provider, model=ref.model, token_name=caller.token_name,
                                    team_id=request.state.team_id)
        try:
            held.slot = cap.acquire(caller.user_id)
        except ApiError:
            refused(kind=CONCURRENCY)
            raise
        try:
            # Images and files are read holding the caller's slot (their CPU and memory count against the user's
            # cap); one refused is a 400 naming messages, and nothing is counted or recorded.
            images, documents = read_images(body, settings), read_documents(body, settings)
            return counted_start(request=request, body=body, context=context, calls=calls, images=images,
                                 documents=documents)
        except RateLimitExceeded:
            held.release()
            refused(kind=WINDOWS)
            raise
        except BaseException:  # a refusal by a budget is recorded where it is decided (the chat's own path)
            held.release()
            raise

    embedder = embeddings.Endpoint(settings, limits, cap, EmbeddingMeter(manager.engine, settings), authenticated)

    @app.post("/embeddings")
    async def create_embeddings(request: Request) -> JSONResponse:
        data = read_json(await request.body())
        return await off_loop(embedder.answer, request, data)

    @app.get("/models")
    async def models(request: Request) -> JSONResponse:
        def listed() -> JSONResponse:
            context = authenticated(request)
            data = api.list_models(context.providers)
            return JSONResponse({"object": "list", "data": data}, headers=limits.headers(request))

        return await off_loop(listed)

    @app.get("/models/{model_id:path}")
    async def model(model_id: str, request: Request) -> JSONResponse:
        def described() -> JSONResponse:
            context = authenticated(request)
            ref = api.find_model(model_id, context.providers.settings)
            api.usable(ref, context.providers)
            return JSONResponse(api.describe(ref, context.providers.choose(ref.provider).provider),
                                headers=limits.headers(request))

        return await off_loop(described)

    @app.post("/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response:
        data = read_json(await request.body())
        held = Held()
        stream: TurnStream[Started] = TurnStream(lambda: start(request, data, held, stream.call), turn_of,
                                                 on_done=held.release)
        return await respond(stream.start(executor), request.receive)

    return app
