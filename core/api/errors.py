"""Errors in OpenAI's shape, {"error": {"message", "type", "code", "param"}}, with the statuses clients act on.

No traceback, key or token ever appears: messages are our own user_message texts (English, as the API speaks).
An error nobody expected is a 500 in the same shape with a short correlation id, logged once under that id.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import AppError, AuthError, NotFound, PermissionDenied, RateLimited, ServiceDraining, ValidationError
from core.i18n import Msg

logger = logging.getLogger(__name__)
ERROR_ID_HEADER = "x-parley-error-id"

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
         404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
         429: "rate_limit_error", 500: "server_error", 502: "server_error", 503: "server_error",
         504: "server_error"}
# A provider's failure (after the fallback chain) as the status a client retries on or gives up at.
PROVIDER_STATUS = {"timeout": 504, "unavailable": 503, "rate_limited": 503, "invalid_key": 502,
                   "provider_error": 502}


class ApiError(Exception):
    """An answer other than success; the app's handler renders it in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}


def error_response(status: int, message: str, *, code: str | None = None, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"), "code": code,
                      "param": param}}
    return JSONResponse(body, status_code=status, headers=headers)


def from_app_error(exc: AppError) -> ApiError:
    """Our errors as API errors: the same user_message, the status that means it."""
    message = str(exc.user_message)
    if isinstance(exc, RateLimited):
        return ApiError(429, message, code="rate_limit_exceeded",
                        headers={"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, ServiceDraining):  # the load balancer / the SDK's retry reaches another instance
        return ApiError(503, message, code="server_restarting",
                        headers={"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, AuthError):
        return ApiError(401, message, code="invalid_api_key")
    if isinstance(exc, PermissionDenied):
        return ApiError(403, message, code="permission_denied")
    if isinstance(exc, NotFound):
        return ApiError(404, message, code="not_found")
    if isinstance(exc, ValidationError):
        return ApiError(400, message, code="invalid_request")
    return ApiError(500, message, code="server_error")


async def on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, code=exc.code, param=exc.param, headers=exc.headers)


async def on_invalid_body(_request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's complaint about the body, one problem only, as a 400 naming the parameter: the first of the most
    specific (a message's content is text or parts: what is wrong inside a part, not that it is not text)."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    deepest = max((len(e.get("loc", ())) for e in errors), default=0)
    first: dict[str, Any] = next((e for e in errors if len(e.get("loc", ())) == deepest), {})
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(where) or None
    problem = str(first.get("msg", "invalid request body"))
    message = f"Invalid request: {param}: {problem}" if param else f"Invalid request: {problem}"
    return error_response(400, message[:500], code="invalid_request", param=param)


async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), code=None, headers=dict(exc.headers or {}))


def log_unexpected(exc: BaseException, event: str, **fields: object) -> str:
    """Log an unexpected error once, with its traceback (JSON, secrets masked); the short id the client is told."""
    correlation = secrets.token_hex(4)
    logger.error(event, exc_info=exc, extra={"fields": {"correlation_id": correlation, "error": type(exc).__name__,
                                                         **fields}})
    return correlation


def unexpected_response(correlation: str) -> JSONResponse:
    return error_response(500, str(Msg("api.unexpected", id=correlation)), code="server_error",
                          headers={ERROR_ID_HEADER: correlation})


class UnexpectedErrors:
    """The API's outermost layer: an exception no handler answered is logged once here and answered as a JSON 500
    with its correlation id. It goes no further, so the server never prints its plain-text, unmasked traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except ClientDisconnect:
            return  # the client left while its body was read: nobody to answer, nothing went wrong
        except Exception as exc:
            correlation = log_unexpected(exc, "api request failed", path=scope.get("path", ""),
                                         method=scope.get("method", ""))
            if not started:  # else the client's connection is cut short: a truncated answer is never complete
                await unexpected_response(correlation)(scope, receive, send)
