"""Helpers for the bench scripts: timing, medians, temporary databases."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def timed_ms(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    """(median, p95) in ms."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


@contextmanager
def bench_databases() -> Iterator[list[tuple[str, str]]]:
    """A temporary SQLite database, plus PostgreSQL when PARLEY_BENCH_DATABASE_URL (or
    PARLEY_TEST_DATABASE_URL) names a server we may create databases on."""
    pg = os.environ.get("PARLEY_BENCH_DATABASE_URL") or os.environ.get("PARLEY_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        dbs = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        name = None
        if pg:
            name = f"parley_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(make_url(pg).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            dbs.append(("postgresql", make_url(pg).set(database=name).render_as_string(hide_password=False)))
        try:
            yield dbs
        finally:
            if name:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
