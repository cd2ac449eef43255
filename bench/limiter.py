"""Cost of one limit check: the two request windows (per minute, per day) the chat takes per turn.

Memory and Redis (PARLEY_BENCH_REDIS_URL / PARLEY_TEST_REDIS_URL, default redis://127.0.0.1:6379/15),
each against a same-run baseline: a dict increment for memory, a Redis PING for Redis. Also the full
check_and_consume with its two usage sums on SQLite. Median and p99 of 5,000 checks over 5,000 users.
Targets: <= 0.2 ms memory, <= 1 ms Redis. Usage: python bench/limiter.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
from limits import parse  # noqa: E402
from limits.storage import storage_from_string  # noqa: E402
from limits.strategies import MovingWindowRateLimiter  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench._util import timed_ms  # noqa: E402

N = 5000
WINDOWS = [parse("20 per 1 minute"), parse("500 per 1 day")]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def check_windows(limiter: MovingWindowRateLimiter) -> list[float]:
    users = iter(range(N))

    def one() -> None:
        uid = str(next(users))
        for item in WINDOWS:
            limiter.hit(item, "chat", uid)

    return timed_ms(one, N)


def report(name: str, samples: list[float], baseline: list[float]) -> None:
    med, base = statistics.median(samples), statistics.median(baseline)
    print(f"{name:<34}{med:>9.4f}{pct(samples, 0.99):>9.4f}{base:>11.4f}{med / base:>8.1f}")


def main() -> None:
    print(f"{'one check':<34}{'median':>9}{'p99':>9}{'baseline':>11}{'ratio':>8}   (ms)")
    counter: dict[str, int] = {}
    ids = iter(range(10 * N))
    base_mem = timed_ms(lambda: counter.__setitem__(str(next(ids)), 1), N)
    report("memory:// (target 0.2 ms)", check_windows(MovingWindowRateLimiter(storage_from_string("memory://"))),
           base_mem)
    url = os.environ.get("PARLEY_BENCH_REDIS_URL") or os.environ.get("PARLEY_TEST_REDIS_URL") or \
        "redis://127.0.0.1:6379/15"
    try:
        client = redis.Redis.from_url(url)
        client.ping()
    except redis.RedisError:
        print(f"redis: not reachable at {url}, skipped")
    else:
        storage = storage_from_string(url)
        storage.reset()
        report("redis:// (target 1 ms)", check_windows(MovingWindowRateLimiter(storage)),
               timed_ms(client.ping, N))
        storage.reset()
    full_check(base_mem)


def full_check(base_mem: list[float]) -> None:
    os.environ.update({"PARLEY_DATA_DIR": tempfile.mkdtemp(), "PARLEY_ADMIN_PASSWORD": "Bench-pass-123"})
    from core import db
    from core.app import startup
    from core.models import User
    from core.usage import RateLimitService

    startup()
    with Session(db.get_engine()) as session:
        uid = session.exec(select(User.id).where(User.username == "admin")).one()
        service = RateLimitService(storage_uri_override="memory://")
        service.settings.limits.admin.requests_per_minute = 10**6  # never refuse while measuring
        service.settings.limits.admin.requests_per_day = 10**6
        samples = timed_ms(lambda: service.check_and_consume(session, uid), 2000)
    report("check_and_consume, SQLite sums", samples, base_mem)


if __name__ == "__main__":
    main()
