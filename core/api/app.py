"""The OpenAI-compatible API, mounted at /v1 inside the Streamlit server (server.py): one process, UI and API.

Endpoints are plain functions: FastAPI runs them on worker threads, so token checks, limits and database writes
never block the event loop. They only start a turn: the turn runs on the API's own bounded executor and the
response waits for it on the event loop (core.api.respond), so no request holds a thread of the server's shared
pool while its provider thinks.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations, which name a
# dependency defined inside create_api().
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from slowapi.errors import RateLimitExceeded
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.accounts import charged_team
from core.api import completions as api
from core.api.admission import CONCURRENCY, WINDOWS, ConcurrencyCap, record_refusal
from core.api.errors import (
    ApiError,
    UnexpectedErrors,
    error_response,
    from_app_error,
    on_api_error,
    on_http_error,
    on_invalid_body,
)
from core.api.limits import ApiLimits
from core.api.respond import Started, TurnResponse
from core.api.schemas import CompletionRequest
from core.api.tokens import Caller, authenticate_token
from core.chat import chat_manager
from core.config import Settings, get_settings
from core.db import session_scope
from core.errors import AppError, AuthError
from core.i18n import Msg


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


def create_api(settings: Settings | None = None) -> FastAPI:
    """The /v1 app: chat completions (plain and streamed), models, errors in OpenAI's shape."""
    settings = settings or get_settings()
    app = FastAPI(title="Parley API", docs_url=None, redoc_url=None, openapi_url=None)
    limits = ApiLimits(settings)
    # A running request holds one worker until its turn ends; one user may hold at most max_concurrent_per_user
    # of them (a smaller number, checked at start-up), so the others always keep workers - that cap.
    executor = ThreadPoolExecutor(max_workers=settings.api.workers, thread_name_prefix="parley-api")
    cap = ConcurrencyCap(settings.api.max_concurrent_per_user)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_kb * 1024)
    app.add_middleware(UnexpectedErrors)  # added last: the outermost of ours, around everything else
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid_body)
    app.add_exception_handler(StarletteHTTPException, on_http_error)

    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        error = from_app_error(exc)
        error.headers.update(await run_in_threadpool(limits.headers, request))
        return await on_api_error(request, error)

    async def on_rate_limited(request: Request, exc: Exception) -> JSONResponse:
        # slowapi's refusal: one of the caller's request windows (shared with the chat) is full.
        headers = await run_in_threadpool(limits.headers, request)
        reset = headers.get("x-ratelimit-reset-requests", "1s").rstrip("s")
        headers["Retry-After"] = str(max(1, int(reset)))
        return error_response(429, str(Msg("api.too_many_requests", seconds=headers["Retry-After"])),
                              code="rate_limit_exceeded", headers=headers)

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RateLimitExceeded, on_rate_limited)

    def authenticated(request: Request) -> Caller:
        """The token's caller and their limits, read in one transaction; 401 (or 429 when guessing) otherwise."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, str(Msg("api.missing_token")), code="missing_api_key")
        with session_scope() as session:
            try:
                caller = authenticate_token(session=session, token=token.strip(), settings=settings)
            except AuthError as exc:
                # Only failures are counted, and the throttle is asked only once the token failed: a valid token is
                # accepted from an address others are guessing from (behind a proxy, that is every user's). Letting
                # a throttled address still present tokens is safe: a token is 256 random bits, stored only as an
                # HMAC under a server key, so no rate of guessing finds one. The 429 tells a script with a wrong
                # token to stop; the message never says which part was wrong, nor echoes the token.
                client = request.client.host if request.client else "unknown"
                refusal = limits.failed_auth(client)
                raise refusal or ApiError(401, str(exc.user_message), code="invalid_api_key") from None
            # The team charged: the X-Parley-Team header (id or name), else the token's, else the default.
            team = charged_team(session=session, user_id=caller.user_id,
                                requested=request.headers.get(TEAM_HEADER) or caller.team_id)
            caller_limits = limits.service.effective_for(session, caller.user_id, caller.role, team)
        limits.publish(request, caller.user_id, *caller_limits)
        request.state.caller_limits = caller_limits
        request.state.team_id = team.id if team is not None else None
        return caller

    CallerDep = Annotated[Caller, Depends(authenticated)]  # noqa: N806  (FastAPI's dependency alias)
    manager = chat_manager(settings.sqlalchemy_url)

    def admitted(endpoint: Callable[..., Started]) -> Callable[..., Response]:
        """Before the endpoint and its request windows: the model must exist (404), and the user must be under
        their concurrency cap (429). A refusal by the cap or by a window is recorded in usage; the slot taken
        goes with the turn into the response, which frees it when the turn ends (or here, if none started)."""

        @functools.wraps(endpoint)
        def admit(*args: Any, **kwargs: Any) -> Response:
            request, body, caller = kwargs["request"], kwargs["body"], kwargs["caller"]
            ref = api.find_model(body.model, settings)
            refused = functools.partial(record_refusal, settings=settings, user_id=caller.user_id,
                                        provider=ref.provider, model=ref.model, token_name=caller.token_name,
                                        team_id=request.state.team_id)
            try:
                slot = cap.acquire(caller.user_id)
            except ApiError:
                refused(kind=CONCURRENCY)
                raise
            try:
                started = endpoint(*args, **kwargs)
            except RateLimitExceeded:
                slot.release()
                refused(kind=WINDOWS)
                raise
            except BaseException:  # a refusal by a budget is recorded where it is decided (the chat's own path)
                slot.release()
                raise
            return TurnResponse(started, body, slot, executor)

        return admit

    @app.get("/models")
    def models(request: Request, caller: CallerDep) -> JSONResponse:
        data = api.list_models(manager.providers_for(caller.user_id, caller.role))
        return JSONResponse({"object": "list", "data": data}, headers=limits.headers(request))

    @app.get("/models/{model_id:path}")
    def model(model_id: str, request: Request, caller: CallerDep) -> JSONResponse:
        ref = api.find_model(model_id, settings)
        api.usable(ref, manager.providers_for(caller.user_id, caller.role))
        return JSONResponse(api.model_body(ref.id, ref.provider), headers=limits.headers(request))

    @app.post("/chat/completions", response_model=None)
    @admitted
    @limits.requests
    def chat_completions(request: Request, body: CompletionRequest, caller: CallerDep) -> Started:
        ref = api.find_model(body.model, settings)
        providers = manager.providers_for(caller.user_id, caller.role)
        api.usable(ref, providers)
        options, conversation = api.turn_inputs(body, ref, settings)
        headers = limits.headers(request)  # read before the turn exists: nothing can fail between the two
        turn = manager.ask(user_id=caller.user_id, conversation=conversation, options=options, providers=providers,
                           token_name=caller.token_name, count_request=False,  # slowapi took the request slot
                           limits=request.state.caller_limits, team=request.state.team_id)
        return Started(turn, ref, headers)

    return app
