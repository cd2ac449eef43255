"""Backup and restore at scale: a database holding 1,000,000 messages (bench/history_scale.py's data set).

For SQLite and (with PARLEY_TEST_DATABASE_URL / PARLEY_BENCH_DATABASE_URL) PostgreSQL: `create` (consistent dump,
per-table counts and checksums, archive), `verify`, and `restore` into an empty database (checksums compared,
migrations run). Baseline in the same run: a plain copy of the SQLite file / a bare pg_dump of the same database.
Target: SQLite backup at most 60 s on 2 cores. Medians of several runs.
Usage: python bench/backup_scale.py [messages=1000000] [runs=3]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench._util import bench_databases  # noqa: E402
from bench.history_scale import seed  # noqa: E402
from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.backup import create_backup, restore_backup, verify_backup  # noqa: E402
from core.config import get_settings  # noqa: E402


def timed(fn: Callable[[], object], runs: int, before: Callable[[], object] | None = None) -> float:
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(n_messages: int, runs: int) -> None:
    os.environ["PARLEY_ADMIN_PASSWORD"] = "Bench-pass-123"
    print(f"Backup and restore of {n_messages:,} messages (10,000 conversations + 100 users), median of {runs} runs")
    with bench_databases() as dbs, tempfile.TemporaryDirectory() as tmp:
        for backend, url in dbs:
            os.environ["PARLEY_DATABASE_URL"] = url
            get_settings.cache_clear()
            db.reset_caches()
            startup()
            seed(db.get_engine(), n_messages)
            db.reset_caches()
            settings = get_settings()
            out = Path(tmp) / backend
            archives: list[Path] = []

            def clear(out: Path = out) -> None:
                shutil.rmtree(out, ignore_errors=True)

            backup_s = timed(lambda out=out, settings=settings, archives=archives: archives.append(
                create_backup(settings, out)), runs, clear)
            archive = archives[-1]
            size = archive.stat().st_size
            verify_s = timed(lambda archive=archive: verify_backup(archive), runs)
            if backend == "sqlite":
                source = Path(url.split("///", 1)[1])
                base_s = timed(lambda source=source: shutil.copyfile(source, Path(tmp) / "copy.db"), runs)
                base_name = "file copy"
            else:
                dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
                base_s = timed(lambda dsn=dsn: subprocess.run(
                    ["pg_dump", "--format=custom", f"--file={tmp}/bare.pgdump", f"--dbname={dsn}"], check=True), runs)
                base_name = "bare pg_dump"
            targets = _targets(backend, url, Path(tmp), runs)
            restore_s = timed(lambda targets=targets, archive=archive: restore_backup(next(targets), archive), runs)
            print(f"{backend:<11} backup {backup_s:6.1f} s ({base_name} {base_s:5.1f} s, {backup_s / base_s:.1f}x)  "
                  f"archive {size / 1e6:6.0f} MB  verify {verify_s:5.1f} s  restore {restore_s:6.1f} s")
            db.reset_caches()
    print("target: SQLite backup <= 60 s on 2 cores")


def _targets(backend: str, url: str, tmp: Path, runs: int):  # type: ignore[no-untyped-def]
    """Settings for `runs` empty places to restore into (fresh files / fresh PostgreSQL databases)."""
    base = get_settings()
    for n in range(runs):
        data_dir = tmp / f"restored-{backend}-{n}"
        if backend == "sqlite":
            yield base.model_copy(update={"data_dir": data_dir, "database_url": f"sqlite:///{data_dir / 'parley.db'}"})
            shutil.rmtree(data_dir, ignore_errors=True)
            continue
        name = f"{make_url(url).database}_r{n}"
        admin = create_engine(make_url(url).set(drivername="postgresql+psycopg", database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.model_copy(update={"data_dir": data_dir,
                                          "database_url": make_url(url).set(database=name).render_as_string(
                                              hide_password=False)})
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
