"""Plain chat completions on OpenAI's wire protocol over aiohttp, for the API's plain requests.

The openai SDK's async client spent about 40% of a plain API request's CPU (building its request objects, httpx's
pool checking every idle connection on each request); this is one POST of bytes and one JSON read. It keeps the
SDK's behaviour that matters: redirects are never followed (an error, as in core.providers.clients), the catalog's
timeouts, retries on the statuses and failures the SDK retries (with the provider's Retry-After when it sends
one), proxies from the environment, and errors mapped exactly as the SDK's are (core.providers.sdk_errors).
Cancelling the coroutine (the API client left) closes the connection: the provider stops.

One aiohttp session per event loop (its connections belong to that loop); close_sessions() on the loop's shutdown.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp

from core.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from core.i18n import Msg
from core.providers.sdk_errors import from_status, log_failure, retry_after_seconds

RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx: what the openai SDK retries
KEEPALIVE_SECONDS = 4.0  # below the usual servers' 5 s, so a kept connection is not reused as the server closes it

_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS)
        session = _sessions[loop] = aiohttp.ClientSession(connector=connector, trust_env=True,
                                                          skip_auto_headers=("User-Agent",))
    return session


async def close_sessions() -> None:
    """Close this loop's session (a server's shutdown)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None and 0 < retry_after <= 60:
        return retry_after
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())  # noqa: S311  (jitter, not a secret)


async def post_json(url: str, *, api_key: str | None, body: bytes, timeout: float, connect_timeout: float,
                    retries: int, label: str) -> Any:
    """POST body (JSON) to url with the key as a bearer token; the answer's JSON. ProviderError as the SDK maps
    errors; a 200 that is not JSON is ProviderUnavailable ("unfinished")."""
    headers = {"content-type": "application/json", "accept": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    limits = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
    for attempt in range(retries + 1):
        last = attempt == retries
        wait: float | None = None
        try:
            async with _session().post(url, data=body, headers=headers, allow_redirects=False,
                                       timeout=limits) as response:
                raw = await response.read()
                if 200 <= response.status < 300:
                    return _json(raw, label)
                if last or not (response.status in RETRY_STATUSES or response.status >= 500):
                    raise _refused(response.status, response.headers, raw, label, api_key)
                wait = _backoff(attempt, retry_after_seconds(response.headers))
        except TimeoutError:
            if last:
                log_failure(label, "APITimeoutError", "timed out")
                raise ProviderTimeout(Msg("providers.timeout", provider=label)) from None
        except aiohttp.ClientError as exc:
            if last:
                log_failure(label, "APIConnectionError", type(exc).__name__)
                raise ProviderUnavailable(Msg("providers.unreachable", provider=label)) from None
        await asyncio.sleep(wait if wait is not None else _backoff(attempt, None))
    raise AssertionError  # pragma: no cover  (the last attempt returns or raises)


def _json(raw: bytes, label: str) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError:  # a 200 that is not JSON
        raise ProviderUnavailable(Msg("providers.unfinished", provider=label)) from None


def _refused(status: int, headers: Any, raw: bytes, label: str, secret: str | None) -> ProviderError:
    text = "" if status in (401, 403) else raw[:2000].decode("utf-8", "replace")
    return from_status(status, headers, label, upstream=text, secret=secret)
