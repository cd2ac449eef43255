"""SDK clients for the OpenAI and Anthropic adapters: one per configuration, so connection pools are reused.

Redirects are never followed. A base URL is checked before it is used (a user's own server must be public:
core.keys.urls), but the SDKs follow HTTP redirects anywhere: a public server answering 307 to a loopback address
would make the portal send the prompt (or a document's text) into its own network. A redirect is an error instead.
"""

from __future__ import annotations

import asyncio
import sys
from functools import lru_cache
from typing import Any, TypeVar

import httpx2 as httpx

from core.providers.base import Provider

C = TypeVar("C")


@lru_cache(maxsize=128)
def _cached(sdk_class: type[Any], api_key: str, base_url: str | None, timeout: float, connect: float,
            retries: int) -> Any:
    # Explicit timeout and retries: the SDKs' defaults are 10 minutes and 2 retries. The SDK's own HTTP client
    # class keeps its defaults (connection limits, keep-alive), with redirects off (see the module's docstring).
    http_client_class = sys.modules[sdk_class.__module__.partition(".")[0]].DefaultHttpxClient
    limits = httpx.Timeout(timeout, connect=connect)
    return sdk_class(api_key=api_key, base_url=base_url, max_retries=retries, timeout=limits,
                     http_client=http_client_class(timeout=limits, follow_redirects=False))


@lru_cache(maxsize=64)
def _cached_async(sdk_class: type[Any], api_key: str, base_url: str | None, timeout: float, connect: float,
                  retries: int, loop: asyncio.AbstractEventLoop) -> Any:
    # An async client's connections belong to the event loop that opened them: one client per loop (the loop is
    # part of the key, held here, so a new loop never gets a client of an old one at the same address).
    del loop
    http_client_class = sys.modules[sdk_class.__module__.partition(".")[0]].DefaultAsyncHttpxClient
    limits = httpx.Timeout(timeout, connect=connect)
    return sdk_class(api_key=api_key, base_url=base_url, max_retries=retries, timeout=limits,
                     http_client=http_client_class(timeout=limits, follow_redirects=False))


def async_sdk_client(sdk_class: type[C], provider: Provider) -> C:
    """The async client of sdk_class for this adapter's key and base URL, on the running event loop."""
    catalog = provider.catalog
    sdk: Any = sdk_class
    client: C = _cached_async(sdk, provider.credentials.api_key or "unused",
                              provider.credentials.base_url or catalog.base_url or None, catalog.timeout_seconds,
                              catalog.connect_timeout_seconds, catalog.max_retries, asyncio.get_running_loop())
    return client


def sdk_client(sdk_class: type[C], provider: Provider, api_key: str | None = None) -> C:
    """The client of sdk_class for this adapter's key (or api_key, for a key check) and base URL."""
    catalog = provider.catalog
    sdk: Any = sdk_class  # a class is hashable; the TypeVar hides that from mypy
    client: C = _cached(sdk, api_key or provider.credentials.api_key or "unused",
                        provider.credentials.base_url or catalog.base_url or None,
                        catalog.timeout_seconds, catalog.connect_timeout_seconds, catalog.max_retries)
    return client
