"""SDK clients for the OpenAI and Anthropic adapters: one per configuration, so connection pools are reused."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

import httpx2 as httpx

from core.providers.base import Provider

C = TypeVar("C")


@lru_cache(maxsize=128)
def _cached(sdk_class: type[Any], api_key: str, base_url: str | None, timeout: float, connect: float,
            retries: int) -> Any:
    # Explicit timeout and retries: the SDKs' defaults are 10 minutes and 2 retries.
    return sdk_class(api_key=api_key, base_url=base_url, max_retries=retries,
                     timeout=httpx.Timeout(timeout, connect=connect))


def sdk_client(sdk_class: type[C], provider: Provider, api_key: str | None = None) -> C:
    """The client of sdk_class for this adapter's key (or api_key, for a key check) and base URL."""
    catalog = provider.catalog
    sdk: Any = sdk_class  # a class is hashable; the TypeVar hides that from mypy
    client: C = _cached(sdk, api_key or provider.credentials.api_key or "unused",
                        provider.credentials.base_url or catalog.base_url or None,
                        catalog.timeout_seconds, catalog.connect_timeout_seconds, catalog.max_retries)
    return client
