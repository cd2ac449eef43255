"""Dashboard at scale: 1,000,000 usage events over 90 days for 200 users in 8 teams and 6 models; times every
query the monitoring page runs (cost by team over time included) for a 30-day range, unfiltered and filtered to
one team (median of several runs), on SQLite and PostgreSQL. Target: <= 300 ms in total.
Usage: python bench/dashboard_scale.py [events]
"""

from __future__ import annotations

import io
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench._util import bench_databases  # noqa: E402
from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.models import Team, User  # noqa: E402
from core.usage import UsageFilter, dashboard  # noqa: E402

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-0"),
          ("anthropic", "claude-3-5-haiku-latest"), ("compatible", "llama3.2"), ("local", "smollm2-135m-instruct")]
NOW = datetime.now(UTC).replace(microsecond=0)
RUNS = 5
TEAMS = 8


def rows(n: int, user_ids: list[int]) -> list[tuple]:  # type: ignore[type-arg]
    rnd = random.Random(7)
    out = []
    for _ in range(n):
        provider, model = rnd.choice(MODELS)
        when = NOW - timedelta(seconds=rnd.randrange(90 * 86400))
        roll = rnd.random()
        status, kind = ("error", rnd.choice(["unavailable", "timeout", "invalid_key"])) if roll < 0.02 else \
            ("refused", "rate_limited") if roll < 0.03 else ("complete", None)
        tin, tout = (0, 0) if status != "complete" else (rnd.randrange(20, 4000), rnd.randrange(5, 1500))
        ttft = rnd.uniform(80, 2500) if status == "complete" else None
        user = rnd.choice(user_ids)
        team = None if user % 10 == 0 else user % TEAMS + 1  # a tenth of the users belong to no team
        out.append((user, "ui" if rnd.random() < 0.9 else "api", provider, model, tin, tout,
                    round((tin * 2.5 + tout * 10) / 1e6, 8), ttft, ttft and ttft + rnd.uniform(100, 9000),
                    status, kind, status == "complete" and rnd.random() < 0.05, team, when))
    return out


COLUMNS = ("user_id, source, provider, model, tokens_in, tokens_out, cost_usd, ttft_ms, total_ms, status, "
           "error_kind, cache_hit, team_id, created_at")


def seed(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        session.add_all(User(username=f"user{i}", email=f"user{i}@e.x", display_name=f"User {i}", password_hash="x")
                        for i in range(199))
        session.add_all(Team(name=f"Team {i}") for i in range(1, TEAMS + 1))
        session.commit()
        user_ids = [admin, *session.exec(select(User.id).where(User.username != "admin")).all()]
    data = rows(n, user_ids)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            buf = io.StringIO()
            for r in data:
                buf.write("\t".join("\\N" if v is None else v.isoformat() if isinstance(v, datetime) else str(v)
                                    for v in r) + "\n")
            buf.seek(0)
            with cur.copy(f"COPY usageevent ({COLUMNS}) FROM STDIN") as copy:
                copy.write(buf.read())
        else:
            cur.executemany(f"INSERT INTO usageevent ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            [(*r[:13], r[13].strftime("%Y-%m-%d %H:%M:%S.%f")) for r in data])
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE usageevent" if engine.dialect.name == "postgresql" else "ANALYZE"))


def main(n: int = 1_000_000) -> None:
    os.environ["PARLEY_ADMIN_PASSWORD"] = "Bench-pass-123"
    filters = UsageFilter(start=NOW - timedelta(days=30), end=NOW + timedelta(seconds=1))
    print(f"{n:,} events over 90 days, 200 users, 6 models; dashboard for the last 30 days")
    with bench_databases() as dbs:
        for backend, url in dbs:
            os.environ["PARLEY_DATABASE_URL"] = url
            os.environ["PARLEY_DATA_DIR"] = str(Path(url.split("///")[-1]).parent) if backend == "sqlite" else "/tmp"
            get_settings.cache_clear()
            db.reset_caches()
            startup()
            engine = db.get_engine()
            t0 = time.perf_counter()
            seed(engine, n)
            seeded = time.perf_counter() - t0
            print(f"{backend}: seeded in {seeded:.1f} s")
            day = UsageFilter(start=NOW - timedelta(days=1), end=NOW + timedelta(seconds=1))
            with Session(engine) as session:
                admin = session.exec(select(User.id).where(User.username == "admin")).one()
                team = UsageFilter(start=filters.start, end=filters.end, team_id=3)
                for label, f in (("30 days (daily rollups)", filters), ("30 days, one team", team),
                                 ("24 hours (hourly, exact)", day)):
                    times = []
                    for _ in range(RUNS + 1):
                        start = time.perf_counter()
                        result = dashboard(session=session, actor_id=admin, filters=f)
                        times.append((time.perf_counter() - start) * 1000)
                    print(f"  {label:<26} all dashboard queries: median {statistics.median(times[1:]):7.1f} ms "
                          f"(min {min(times[1:]):.1f}, first {times[0]:.1f}); {result.kpis.requests:,} requests"
                          f"{'   (target <= 300 ms)' if f is not day else ''}")
            db.reset_caches()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
