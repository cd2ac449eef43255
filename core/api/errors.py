"""Errors in OpenAI's shape, {"error": {"message", "type", "code", "param"}}, with the statuses clients act on.

No traceback, key or token ever appears: messages are our own user_message texts (English, as the API speaks).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from core.errors import AppError, AuthError, NotFound, PermissionDenied, RateLimited, ServiceDraining, ValidationError
from core.logging import log_event

logger = logging.getLogger(__name__)

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
    """Pydantic's complaint about the body, first problem only, as a 400 naming the parameter."""
    assert isinstance(exc, RequestValidationError)
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(where) or None
    problem = str(first.get("msg", "invalid request body"))
    message = f"Invalid request: {param}: {problem}" if param else f"Invalid request: {problem}"
    return error_response(400, message[:500], code="invalid_request", param=param)


async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), code=None, headers=dict(exc.headers or {}))


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged for operators (the JSON formatter masks secrets); the client gets no traceback.
    log_event(logger, "api request failed", logging.ERROR, path=request.url.path, error=type(exc).__name__)
    return error_response(500, "The server failed to answer this request.", code="server_error")
