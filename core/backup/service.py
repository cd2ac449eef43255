"""create, verify, restore and prune backups of everything Parley keeps: the database, the generated secrets
file and the vector store directory."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import Engine, make_url

from core.backup import stores
from core.backup.archive import (
    BackupError,
    Manifest,
    compare_tables,
    extract_verified,
    read_manifest,
    shown,
    write_archive,
)
from core.backup.placement import Undo, nothing, place_file, place_secrets, place_vectors
from core.backup.vectors import VECTOR_DIR, VECTORS_MEMBER, pack_vectors, unpack_vectors
from core.config import Settings
from core.db import alembic_config, make_engine, upgrade
from core.i18n import Msg
from core.logging import log_event
from core.secrets_env import SECRETS_FILE, private_dir

logger = logging.getLogger(__name__)

SECRETS_MEMBER = "secrets.env"


@dataclass
class RestoreResult:
    manifest: Manifest
    migrated_to: str | None
    secrets_restored: bool
    secrets_kept: Path | None = None  # the target's previous, different secrets.env, kept beside it


def app_version() -> str:
    try:
        return version("parley")
    except PackageNotFoundError:
        return "0.1.0"


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.sqlalchemy_url)


def _database_member(backend: str) -> str:
    return stores.SQLITE_MEMBER if backend == "sqlite" else stores.POSTGRES_MEMBER


def create_backup(settings: Settings, out_dir: Path | None = None, *, now: datetime | None = None) -> Path:
    """One archive of the database (consistent while the app writes), secrets.env and the vector store."""
    out_dir = out_dir or settings.data_dir / "backups"
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = out_dir / f"parley-backup-{stamp}.tar"
    engine = _engine(settings)
    # A 0700 working directory, and every file in it created 0600: the dump and the archive hold the secrets.
    with tempfile.TemporaryDirectory(prefix=".parley-backup-", dir=out_dir) as tmp:
        work = Path(tmp)
        try:
            if engine.dialect.name == "sqlite":
                dump, tables, revision = stores.dump_sqlite(engine, work)
            else:
                dump, tables, revision = stores.dump_postgres(engine, work)
        finally:
            engine.dispose()
        files = {_database_member(engine.dialect.name): dump}
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
            manifest.vectors, skipped = pack_vectors(vectors, packed)
            files[VECTORS_MEMBER] = packed
            if skipped:
                manifest.notes.append(f"vector store: {len(skipped)} entries that are not regular files were left "
                                      f"out: {', '.join(skipped[:5])}")
        write_archive(target, manifest, files)
    log_event(logger, "backup created", path=str(target), backend=manifest.backend,
              revision=manifest.schema_revision, rows=sum(t["rows"] for t in manifest.tables.values()))
    return target


def _extract(archive: Path, manifest: Manifest, into: Path, *, unpack: bool) -> dict[str, Path]:
    """The archive's files verified into `into`, and its vector store checked (unpacked into into/vectors)."""
    database = _database_member(manifest.backend)
    files = extract_verified(archive, manifest, into, {database, SECRETS_MEMBER, VECTORS_MEMBER})
    if database not in files:
        raise BackupError(Msg("backup.missing_member", name="database"))
    if VECTORS_MEMBER in files:
        if manifest.vectors is None and manifest.format_version >= 2:
            raise BackupError(Msg("backup.vectors_unlisted"))
        staged = into / "vectors"
        if unpack:
            staged.mkdir(mode=0o700)
        unpack_vectors(files[VECTORS_MEMBER], manifest.vectors, staged if unpack else None)
    return files


def verify_backup(archive: Path) -> Manifest:
    """The archive is whole and Parley's: every file's checksum, the vector store's files, (SQLite) every table."""
    manifest = read_manifest(archive)
    with tempfile.TemporaryDirectory(prefix="parley-verify-") as tmp:
        files = _extract(archive, manifest, Path(tmp), unpack=False)
        if stores.SQLITE_MEMBER in files:
            tables, _ = stores.inspect_sqlite(files[stores.SQLITE_MEMBER])
            compare_tables(manifest.tables, tables)
        else:
            stores.check_pg_dump(files[stores.POSTGRES_MEMBER])
    return manifest


def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> RestoreResult:
    """Put the archive back into the configured database and data directory, then migrate to this version.

    Every file, the vector store and (SQLite) every table is checked in a staging directory before anything is
    replaced; a target holding data is refused unless force; a step that fails undoes the ones before it."""
    manifest = read_manifest(archive)
    backend = make_url(settings.sqlalchemy_url).get_backend_name()
    if manifest.backend != backend:
        raise BackupError(Msg("backup.wrong_backend", archive=manifest.backend, target=backend))
    _check_revision(manifest)
    private_dir(settings.data_dir)
    with tempfile.TemporaryDirectory(prefix=".parley-restore-", dir=settings.data_dir) as tmp:
        staging = Path(tmp)
        files = _extract(archive, manifest, staging, unpack=True)
        engine = _engine(settings)
        try:
            _check_target(settings, engine, files, force=force)
            _prepare_database(manifest, files)
            secrets_kept, undo = _place_files(settings, files, staging)
            try:
                _load_database(settings, engine, manifest, files, force=force)
            except BaseException:
                undo()
                raise
        finally:
            engine.dispose()
    check = _engine(settings)
    try:
        with check.connect() as connection:
            migrated_to = stores._revision(connection)
    finally:
        check.dispose()
    log_event(logger, "backup restored", path=str(archive), backend=backend, from_revision=manifest.schema_revision,
              to_revision=migrated_to, kept_previous_file=str(secrets_kept) if secrets_kept else None)
    return RestoreResult(manifest, migrated_to, SECRETS_MEMBER in files, secrets_kept)


def _check_revision(manifest: Manifest) -> None:
    """A backup of a schema this version does not know (a newer Parley) is refused before anything is written."""
    if manifest.schema_revision is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(manifest.schema_revision) is not None
    except (CommandError, RevisionError):
        known = False
    if not known:
        raise BackupError(Msg("backup.unknown_revision", revision=shown(str(manifest.schema_revision))))


def _check_target(settings: Settings, engine: Engine, files: dict[str, Path], *, force: bool) -> None:
    """Refuse (unless force) a database holding data or a non-empty vector store. A different secrets.env is no
    reason: with an empty database it protects nothing here, and it is kept beside the restored one."""
    if force:
        return
    if engine.dialect.name == "sqlite":
        has_data = stores.sqlite_has_data(stores.sqlite_path(engine))
    else:
        has_data = stores.postgres_has_data(engine)
    if has_data:
        raise BackupError(Msg("backup.target_not_empty"))
    vectors = settings.data_dir / VECTOR_DIR
    if VECTORS_MEMBER in files and vectors.is_dir() and any(vectors.iterdir()):
        raise BackupError(Msg("backup.target_not_empty"))


def _prepare_database(manifest: Manifest, files: dict[str, Path]) -> None:
    """Every check that writes nothing in the target: SQLite's tables, then its migration on the staged copy."""
    if manifest.backend == "sqlite":
        restored = files[stores.SQLITE_MEMBER]
        tables, _ = stores.inspect_sqlite(restored)
        compare_tables(manifest.tables, tables)
        _migrate(f"sqlite:///{restored}")
    else:
        stores.check_pg_dump(files[stores.POSTGRES_MEMBER])  # readable, before a forced restore empties the schema


def _load_database(settings: Settings, engine: Engine, manifest: Manifest, files: dict[str, Path], *,
                   force: bool) -> None:
    if manifest.backend == "sqlite":
        place_file(files[stores.SQLITE_MEMBER], stores.sqlite_path(engine))
        return
    stores.restore_postgres(engine, files[stores.POSTGRES_MEMBER], force=force)
    tables, _ = stores.snapshot_postgres(engine)
    compare_tables(manifest.tables, tables)
    _migrate(settings.sqlalchemy_url)


def _place_files(settings: Settings, files: dict[str, Path], staging: Path) -> tuple[Path | None, Undo]:
    """The vector store and secrets.env renamed into data/; returns the previous secrets.env's copy and the undo."""
    undo_vectors = nothing
    if VECTORS_MEMBER in files:
        undo_vectors = place_vectors(staging / "vectors" / VECTOR_DIR, settings.data_dir / VECTOR_DIR,
                                     staging / "replaced")
    if SECRETS_MEMBER not in files:
        return None, undo_vectors
    try:
        kept, undo_secrets = place_secrets(files[SECRETS_MEMBER], settings.data_dir / SECRETS_FILE)
    except BaseException:
        undo_vectors()
        raise

    def undo() -> None:
        undo_secrets()
        undo_vectors()

    return kept, undo


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
