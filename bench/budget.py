"""Cost of reserving and settling a budget per provider call, on each store: the database alone (SQLite, the
embedded default; PostgreSQL) and Redis (with PostgreSQL for the usage records).

A turn already writes its usage event in a transaction; the budget adds one reserve before the call and its
settle inside (database) or after (Redis) that transaction. Measured per call over 1,000 calls spread over 200
users, median of 5 runs: reserve alone, and (record + settle + commit) minus (record + commit), the baseline
measured in the same run, and the store's round trip (a Redis PING; a database session running SELECT 1) as the
floor, also in the same run. Targets: <= 0.5 ms median on Redis, <= 2 ms on PostgreSQL.

PostgreSQL: PARLEY_BENCH_DATABASE_URL / PARLEY_TEST_DATABASE_URL (a scratch database is created and dropped);
Redis: PARLEY_BENCH_REDIS_URL / PARLEY_TEST_REDIS_URL. Usage: python bench/budget.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench._util import bench_databases  # noqa: E402
from core import app as core_app  # noqa: E402
from core import db  # noqa: E402
from core.config import LimitDefaults, get_settings  # noqa: E402
from core.models import UsageStatus, User  # noqa: E402
from core.providers.base import Usage  # noqa: E402
from core.usage import Budgets, record_usage  # noqa: E402

CALLS, USERS, RUNS = 1000, 200, 5
LIMITS = LimitDefaults(requests_per_minute=0, requests_per_day=0, tokens_per_day=10**9, budget_usd_per_month=10**6)


def setup(database_url: str) -> list[int]:
    os.environ["PARLEY_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    db.reset_caches()
    core_app.reset()
    core_app.startup()
    with Session(db.get_engine()) as session:
        names = [f"b{uuid.uuid4().hex[:10]}" for _ in range(USERS)]
        users = [User(username=n, email=f"{n}@bench.local", display_name="b", password_hash="x") for n in names]
        session.add_all(users)
        session.commit()
        return [u.id or 0 for u in users]


def one_run(budgets: Budgets, users: list[int]) -> tuple[float, float]:
    """Median ms of reserve, and of settle's share of the usage transaction."""
    engine, reserve, with_settle, without = budgets.engine, [], [], []
    for i in range(CALLS):
        uid = users[i % len(users)]
        start = time.perf_counter()
        hold = budgets.reserve(user_id=uid, limits=LIMITS, exempt=False, provider="openai", model="gpt-4o",
                               prompt_tokens=200, max_tokens=512)
        reserve.append(time.perf_counter() - start)
        for settle, samples in ((True, with_settle), (False, without)):
            start = time.perf_counter()
            with Session(engine) as session:
                event = record_usage(session=session, user_id=uid, conversation_id=None, provider="openai",
                                     model="gpt-4o", usage=Usage(200, 100), status=UsageStatus.complete,
                                     error_kind=None, ttft_ms=None, total_ms=None)
                if settle:
                    budgets.settle(session, hold, event)
                session.commit()
            samples.append(time.perf_counter() - start)
    ms = 1000
    return (statistics.median(reserve) * ms,
            (statistics.median(with_settle) - statistics.median(without)) * ms)


def round_trip_ms(database_url: str, redis_url: str) -> float:
    """The store's own floor, measured in the same run: a Redis PING, or a database session that runs SELECT 1."""
    samples = []
    r = redis.Redis.from_url(redis_url) if redis_url else None
    engine = db.get_engine()
    for _ in range(CALLS):
        start = time.perf_counter()
        if r is not None:
            r.ping()
        else:
            with Session(engine) as session:
                session.execute(text("SELECT 1"))
                session.commit()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def bench(name: str, database_url: str, redis_url: str = "") -> None:
    users = setup(database_url)
    settings = get_settings().model_copy(update={"redis_url": redis_url})
    if redis_url:
        r = redis.Redis.from_url(redis_url)
        for key in r.scan_iter("parley:budget:*"):
            r.delete(key)
    budgets = Budgets(settings, db.get_engine())
    runs = [(*one_run(budgets, users), round_trip_ms(database_url, redis_url)) for _ in range(RUNS)]
    reserve, settle, floor = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"{name:<34}{reserve:>10.3f}{settle:>10.3f}{reserve + settle:>10.3f}{floor:>12.3f}"
          f"{(reserve + settle) / floor:>8.1f}")


def main() -> None:
    tmp = tempfile.mkdtemp()
    os.environ.update({"PARLEY_DATA_DIR": tmp, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                       "PARLEY_LOG_LEVEL": "WARNING"})
    redis_url = os.environ.get("PARLEY_BENCH_REDIS_URL") or os.environ.get("PARLEY_TEST_REDIS_URL") or ""
    print(f"{'store (ms per call, median)':<34}{'reserve':>10}{'settle':>10}{'total':>10}{'round trip':>12}"
          f"{'ratio':>8}")
    with bench_databases() as dbs:
        for backend, url in dbs:
            if backend == "sqlite":
                bench("SQLite (embedded default)", url)
            else:
                bench("PostgreSQL (target 2 ms)", url)
                if redis_url:
                    bench("Redis + PostgreSQL (target 0.5 ms)", url, redis_url)
            db.reset_caches()
    if len(dbs) == 1:
        print("PostgreSQL and Redis: set PARLEY_BENCH_DATABASE_URL and PARLEY_BENCH_REDIS_URL to measure them")


if __name__ == "__main__":
    main()
