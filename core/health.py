"""Health of what the portal depends on: the database, and Redis when configured."""

from __future__ import annotations

import redis

from core.config import get_settings
from core.db import check_database


def check_redis(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return bool(client.ping())
    except redis.RedisError:
        return False


def health_checks() -> dict[str, str]:
    """{"database": "ok"|"error", "redis": ...} — Redis only when REDIS_URL is set."""
    checks = {"database": "ok" if check_database() else "error"}
    redis_url = get_settings().redis_url
    if redis_url:
        checks["redis"] = "ok" if check_redis(redis_url) else "error"
    return checks
