"""create, verify, restore and prune backups of everything Parley keeps: the database, the generated secrets
file and the vector store directory."""

from __future__ import annotations

import logging
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy.engine import Engine

from core.backup import stores
from core.backup.archive import BackupError, Manifest, compare_tables, extract_verified, read_manifest, write_archive
from core.config import Settings
from core.db import make_engine, upgrade
from core.i18n import Msg
from core.logging import log_event
from core.secrets_env import SECRETS_FILE

logger = logging.getLogger(__name__)

SECRETS_MEMBER = "secrets.env"
VECTORS_MEMBER = "vectors.tar"
VECTOR_DIR = "chroma"
NAME = re.compile(r"^parley-backup-(\d{8}T\d{6}Z)\.tar$")


@dataclass
class RestoreResult:
    manifest: Manifest
    migrated_to: str | None
    secrets_restored: bool


def app_version() -> str:
    try:
        return version("parley")
    except PackageNotFoundError:
        return "0.1.0"


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.sqlalchemy_url)


def create_backup(settings: Settings, out_dir: Path | None = None, *, now: datetime | None = None) -> Path:
    """One archive of the database (consistent while the app writes), secrets.env and the vector store."""
    out_dir = out_dir or settings.data_dir / "backups"
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = out_dir / f"parley-backup-{stamp}.tar"
    engine = _engine(settings)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        work = Path(tmp)
        try:
            if engine.dialect.name == "sqlite":
                dump, tables, revision = stores.dump_sqlite(engine, work)
                files = {stores.SQLITE_MEMBER: dump}
            else:
                dump, tables, revision = stores.dump_postgres(engine, work)
                files = {stores.POSTGRES_MEMBER: dump}
        finally:
            engine.dispose()
        manifest = Manifest(app_version=app_version(), backend=engine.dialect.name, schema_revision=revision,
                            created_at=datetime.now(UTC).isoformat(), tables=tables)
        secrets = settings.data_dir / SECRETS_FILE
        if secrets.exists():
            files[SECRETS_MEMBER] = secrets
            manifest.notes.append("secrets.env: whoever holds this archive can decrypt the stored provider keys")
        else:
            manifest.notes.append("no secrets.env: the keys come from the environment; back them up there")
        vectors = settings.data_dir / VECTOR_DIR
        if vectors.is_dir():
            packed = work / VECTORS_MEMBER
            with tarfile.open(packed, "w") as tar:
                tar.add(vectors, arcname=VECTOR_DIR)
            files[VECTORS_MEMBER] = packed
        write_archive(target, manifest, files)
    log_event(logger, "backup created", path=str(target), backend=manifest.backend,
              revision=manifest.schema_revision, rows=sum(t["rows"] for t in manifest.tables.values()))
    return target


def verify_backup(archive: Path) -> Manifest:
    """The archive is whole and Parley's: every file's checksum, and (SQLite) every table's rows."""
    manifest = read_manifest(archive)
    with tempfile.TemporaryDirectory() as tmp:
        files = extract_verified(archive, manifest, Path(tmp))
        if stores.SQLITE_MEMBER in files:
            tables, _ = stores.inspect_sqlite(files[stores.SQLITE_MEMBER])
            compare_tables(manifest.tables, tables)
        elif stores.POSTGRES_MEMBER in files:
            stores.check_pg_dump(files[stores.POSTGRES_MEMBER])
        else:
            raise BackupError(Msg("backup.missing_member", name="database"))
    return manifest


def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> RestoreResult:
    """Put the archive back into the configured database and data directory, then migrate to this version.

    Refuses a target that holds data (unless force) and any archive that fails its checks, before writing."""
    manifest = read_manifest(archive)
    engine = _engine(settings)
    backend = engine.dialect.name
    if manifest.backend != backend:
        raise BackupError(Msg("backup.wrong_backend", archive=manifest.backend, target=backend))
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
            files = extract_verified(archive, manifest, Path(tmp))
            _check_target(settings, engine, files, force=force)
            if backend == "sqlite":
                restored = files[stores.SQLITE_MEMBER]
                tables, _ = stores.inspect_sqlite(restored)
                compare_tables(manifest.tables, tables)
                _migrate(f"sqlite:///{restored}")  # before it replaces anything: a failed migration writes nothing
                stores.place_sqlite(restored, stores.sqlite_path(engine))
            else:
                stores.restore_postgres(engine, files[stores.POSTGRES_MEMBER], force=force)
                tables, _ = stores.snapshot_postgres(engine)
                compare_tables(manifest.tables, tables)
                _migrate(settings.sqlalchemy_url)
            secrets_restored = _restore_files(settings, files)
    finally:
        engine.dispose()
    check = _engine(settings)
    try:
        with check.connect() as connection:
            migrated_to = stores._revision(connection)
    finally:
        check.dispose()
    log_event(logger, "backup restored", path=str(archive), backend=backend, from_revision=manifest.schema_revision,
              to_revision=migrated_to)
    return RestoreResult(manifest, migrated_to, secrets_restored)


def _check_target(settings: Settings, engine: Engine, files: dict[str, Path], *, force: bool) -> None:
    if force:
        return
    if engine.dialect.name == "sqlite":
        has_data = stores.sqlite_has_data(stores.sqlite_path(engine))
    else:
        has_data = stores.postgres_has_data(engine)
    if has_data:
        raise BackupError(Msg("backup.target_not_empty"))
    secrets = settings.data_dir / SECRETS_FILE
    if SECRETS_MEMBER in files and secrets.exists() and secrets.read_bytes() != files[SECRETS_MEMBER].read_bytes():
        raise BackupError(Msg("backup.secrets_differ"))
    vectors = settings.data_dir / VECTOR_DIR
    if VECTORS_MEMBER in files and vectors.exists() and any(vectors.iterdir()):
        raise BackupError(Msg("backup.target_not_empty"))


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _restore_files(settings: Settings, files: dict[str, Path]) -> bool:
    if VECTORS_MEMBER in files:
        shutil.rmtree(settings.data_dir / VECTOR_DIR, ignore_errors=True)
        with tarfile.open(files[VECTORS_MEMBER], "r") as tar:
            tar.extractall(settings.data_dir, filter="data")
    if SECRETS_MEMBER not in files:
        return False
    secrets = settings.data_dir / SECRETS_FILE
    secrets.unlink(missing_ok=True)
    shutil.copyfile(files[SECRETS_MEMBER], secrets)
    secrets.chmod(0o600)
    return True


def prune_backups(out_dir: Path, *, keep_daily: int, keep_weekly: int, now: datetime | None = None) -> list[Path]:
    """Keep the newest archive of each of the last keep_daily days and keep_weekly ISO weeks; delete the rest."""
    dated: list[tuple[datetime, Path]] = []
    for path in out_dir.glob("parley-backup-*.tar"):
        match = NAME.match(path.name)
        if match:
            dated.append((datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), path))
    dated.sort(reverse=True)
    today = (now or datetime.now(UTC)).date()
    kept: set[Path] = set()
    days: set[object] = set()
    weeks: set[object] = set()
    for when, path in dated:
        day, week = when.date(), when.isocalendar()[:2]
        if day not in days and today - day < timedelta(days=keep_daily):
            days.add(day)
            kept.add(path)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            kept.add(path)
    removed = [path for _, path in dated if path not in kept]
    for path in removed:
        path.unlink()
    return removed
