"""The shared `limits` storage: in this process (memory://) or in Redis, shared by every instance.

Chat request limits, login throttling and (with slowapi) the API all count in this one storage.
"""

from __future__ import annotations

from functools import lru_cache

from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.config import Settings


@lru_cache(maxsize=4)
def limiter_storage(uri: str) -> Storage:
    """One storage per URI and process: memory:// (this process) or redis:// (all instances)."""
    storage = storage_from_string(uri)
    assert isinstance(storage, Storage)  # sync URIs only
    return storage


def storage_uri(settings: Settings) -> str:
    return settings.redis_url or "memory://"


def moving_window(settings: Settings, uri: str | None = None) -> MovingWindowRateLimiter:
    """A moving-window limiter on the shared storage (or on uri, for tests)."""
    return MovingWindowRateLimiter(limiter_storage(uri or storage_uri(settings)))
