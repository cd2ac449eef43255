"""Response cache for deterministic requests (temperature 0): in process or Redis, TTL, per user."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Protocol

import redis

from core.config import Settings, get_settings
from core.providers.base import ChatRequest

PREFIX = "parley:cache:"


@dataclass(frozen=True)
class CachedReply:
    text: str
    model: str
    tokens_in: int
    tokens_out: int


def cache_key(user_id: int, provider: str, request: ChatRequest) -> str:
    """A digest of everything that shapes the reply. The user id is part of it: never shared across users."""
    payload = {
        "user": user_id, "provider": provider, "model": request.model, "system": request.system,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature, "max_tokens": request.max_tokens,
        **({"stop": list(request.stop)} if request.stop else {}),  # absent when unused: older entries still hit
    }
    return PREFIX + hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


class Backend(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: int) -> None: ...


class MemoryBackend:
    """LRU with expiry; the clock is injectable so tests need not sleep."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries, self.clock = max_entries, clock
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry[1]

    def set(self, key: str, value: str, ttl: int) -> None:
        with self._lock:
            self._data[key] = (self.clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def get(self, key: str) -> str | None:
        try:
            value = self.client.get(key)
        except redis.RedisError:
            return None  # a cache outage must not stop the chat
        return value.decode() if isinstance(value, bytes) else None

    def set(self, key: str, value: str, ttl: int) -> None:
        try:
            self.client.set(key, value, ex=ttl)
        except redis.RedisError:
            pass


class ResponseCache:
    def __init__(self, backend: Backend, ttl_seconds: int, enabled: bool = True) -> None:
        self.backend, self.ttl, self.enabled = backend, ttl_seconds, enabled

    def applies(self, request: ChatRequest) -> bool:
        # A reply with tool calls is not text to replay (and its key would have to hold the tools), nor is one about
        # images (the key would have to hold them): never cached.
        tools = request.tooling is not None or any(m.role == "tool" or m.tool_calls or m.images
                                                   for m in request.messages)
        return self.enabled and request.temperature == 0 and not tools

    def get(self, key: str) -> CachedReply | None:
        raw = self.backend.get(key)
        if raw is None:
            return None
        try:
            return CachedReply(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    def put(self, key: str, reply: CachedReply) -> None:
        self.backend.set(key, json.dumps(asdict(reply), ensure_ascii=False), self.ttl)


@lru_cache(maxsize=4)
def _memory_backend(max_entries: int) -> MemoryBackend:
    return MemoryBackend(max_entries)


def build_cache(settings: Settings | None = None) -> ResponseCache:
    """The process's cache: Redis when configured (shared by instances), else in memory."""
    settings = settings or get_settings()
    backend: Backend = (RedisBackend(settings.redis_url) if settings.redis_url
                        else _memory_backend(settings.cache.max_entries))
    return ResponseCache(backend, settings.cache.ttl_seconds, settings.cache.enabled)
