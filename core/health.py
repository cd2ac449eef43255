"""Health of what the portal depends on: the database, and Redis when configured."""

from __future__ import annotations

import hmac

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


def metrics_allowed(client: str | None, authorization: str) -> bool:
    """Whether this caller may read /metrics (metrics.allowed_addresses, PARLEY_METRICS_TOKEN)."""
    settings = get_settings()
    allowed = settings.metrics.allowed_addresses
    if allowed and client not in allowed:
        return False
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return True
