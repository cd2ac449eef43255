"""The shared `limits` storage: in this process (memory://) or in Redis, shared by every instance.

Chat request limits, login throttling and (with slowapi) the API all count in this one storage.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.config import Settings


class AtomicMemoryStorage(MemoryStorage):
    """limits' in-process storage with one lock around each operation.

    Its own per-key locks are not enough under threads: its expiry timer rewrites a key's entries (and drops
    the key's lock) while a hit may be adding one, and two threads can create a new key's lock twice, so
    parallel hits could take more slots than there are. Redis does each operation in one Lua script.
    """

    def __init__(self, uri: str | None = None, **options: Any) -> None:
        self._atomic = threading.RLock()  # before the parent starts its expiry timer
        super().__init__(uri, **options)

    def _MemoryStorage__expire_events(self) -> None:  # the parent's private timer callback, name-mangled
        with self._atomic:
            super()._MemoryStorage__expire_events()  # type: ignore[misc]

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        with self._atomic:
            return super().acquire_entry(key, limit, expiry, amount)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        with self._atomic:
            return super().get_moving_window(key, limit, expiry)

    def clear(self, key: str) -> None:
        with self._atomic:
            super().clear(key)


_created = threading.Lock()


@lru_cache(maxsize=4)
def _storage(uri: str) -> Storage:
    storage = AtomicMemoryStorage() if uri == "memory://" else storage_from_string(uri)
    assert isinstance(storage, Storage)  # sync URIs only
    return storage


def limiter_storage(uri: str) -> Storage:
    """One storage per URI and process: memory:// (this process) or redis:// (all instances).

    Created under a lock: lru_cache alone may build two for parallel first calls, and two in-memory storages
    would be two sets of counters.
    """
    with _created:
        return _storage(uri)



def reset_storages() -> None:
    """Forget the storages (tests switch settings between cases)."""
    with _created:
        _storage.cache_clear()


def storage_uri(settings: Settings) -> str:
    return settings.redis_url or "memory://"


def moving_window(settings: Settings, uri: str | None = None) -> MovingWindowRateLimiter:
    """A moving-window limiter on the shared storage (or on uri, for tests)."""
    return MovingWindowRateLimiter(limiter_storage(uri or storage_uri(settings)))
