"""The backup archive: one tar file, a manifest first, then the files it lists with their SHA-256.

The manifest names the schema revision, the app version and every table's row count and checksum, taken in the
same snapshot as the dump, so a restore can prove it put back exactly what was saved. From format 2 it also lists
every file of the vector store with its SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from core.errors import AppError
from core.i18n import Msg

FORMAT = "parley-backup"
FORMAT_VERSION = 2  # 2: the manifest lists the vector store's files (`vectors`); 1 listed only vectors.tar
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
CHUNK = 1 << 20
# Derived tables: SQLite's full-text indexes (kept from message and chunk by triggers) and their shadow tables.
SKIPPED_PREFIXES = ("message_fts", "chunk_fts", "chunk_words", "sqlite_")


class BackupError(AppError):
    """Seen by the operator: the archive or the target is not what a backup or restore needs; nothing written."""


@dataclass
class Manifest:
    app_version: str
    backend: str  # sqlite | postgresql
    schema_revision: str | None
    created_at: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"rows": n, "sha256": hex}
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # member -> {"bytes": n, "sha256": hex}
    notes: list[str] = field(default_factory=list)
    # chroma/<path> -> {"bytes": n, "sha256": hex}: every file inside vectors.tar; None in a format 1 archive
    vectors: dict[str, dict[str, Any]] | None = None
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "app": "parley", **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BackupError(Msg("backup.not_parley")) from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("app") != "parley":
            raise BackupError(Msg("backup.not_parley"))
        version = body.get("format_version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise BackupError(Msg("backup.format_version", version=str(version)))
        try:
            vectors = body.get("vectors")
            return cls(app_version=str(body["app_version"]), backend=str(body["backend"]),
                       schema_revision=body["schema_revision"], created_at=str(body["created_at"]),
                       tables=dict(body["tables"]), files=dict(body["files"]), notes=list(body.get("notes", [])),
                       vectors=None if vectors is None else dict(vectors), format_version=version)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(Msg("backup.not_parley")) from exc


def open_private(path: Path) -> int:
    """A new file at path, 0600 from its first byte: never an existing file, never through a link."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


def copy_private(source: IO[bytes], path: Path | None) -> dict[str, Any]:
    """source's bytes into a new 0600 file at path (only hashed when path is None); their size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    out = os.fdopen(open_private(path), "wb") if path is not None else None
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    return {"bytes": size, "sha256": digest.hexdigest()}


def table_names(connection: Connection) -> list[str]:
    return sorted(n for n in inspect(connection).get_table_names() if not n.startswith(SKIPPED_PREFIXES))


def table_snapshot(connection: Connection, tables: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each table's row count and a SHA-256 of its rows in key order, read through connection's snapshot."""
    result: dict[str, dict[str, Any]] = {}
    inspector = inspect(connection)
    quote = connection.dialect.identifier_preparer.quote
    for name in tables:
        keys = inspector.get_pk_constraint(name).get("constrained_columns") or [
            c["name"] for c in inspector.get_columns(name)]
        order = ", ".join(quote(k) for k in keys)
        digest, rows = hashlib.sha256(), 0
        rows_iter = connection.execution_options(stream_results=True, yield_per=5000).execute(
            text(f"SELECT * FROM {quote(name)} ORDER BY {order}"))  # noqa: S608 (reflected names, quoted)
        for row in rows_iter:
            digest.update(repr(tuple(_canonical(v) for v in row)).encode())
            digest.update(b"\n")
            rows += 1
        result[name] = {"rows": rows, "sha256": digest.hexdigest()}
    return result


def _canonical(value: Any) -> Any:
    """One spelling per value whatever the driver hands back (memoryview vs bytes, aware datetimes)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def file_digest(path: Path) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def write_archive(target: Path, manifest: Manifest, files: dict[str, Path]) -> None:
    """The archive at target: written beside it under a temporary name, renamed when complete (a crash leaves no
    half archive), and 0600 from its first byte, partial file included, because it holds the secrets file."""
    for member, path in files.items():
        manifest.files[member] = file_digest(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)  # 0600
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w") as tar:
                raw = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(raw), 0o600
                tar.addfile(info, io.BytesIO(raw))
                for member, path in files.items():
                    tar.add(path, arcname=member, recursive=False)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def read_manifest(archive: Path) -> Manifest:
    try:
        with tarfile.open(archive, "r") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST:
                raise BackupError(Msg("backup.not_parley"))
            handle = tar.extractfile(member)
            assert handle is not None
            return Manifest.from_json(handle.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(Msg("backup.unreadable", reason=type(exc).__name__)) from exc


def extract_verified(archive: Path, manifest: Manifest, into: Path, allowed: Collection[str]) -> dict[str, Path]:
    """Every file the manifest lists (only names in allowed), copied into `into` as new 0600 files and checked
    against its size and SHA-256."""
    unknown = sorted(set(manifest.files) - set(allowed))
    if unknown:
        raise BackupError(Msg("backup.unexpected_member", name=shown(unknown[0])))
    found: dict[str, Path] = {}
    try:
        with tarfile.open(archive, "r") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in manifest.files or not member.isfile() or member.name in found:
                    raise BackupError(Msg("backup.unexpected_member", name=shown(member.name)))
                expected = manifest.files[member.name]
                if not isinstance(expected, dict) or member.size != expected.get("bytes"):
                    raise BackupError(Msg("backup.checksum", name=member.name))
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                path = into / member.name
                if copy_private(source, path) != expected:
                    raise BackupError(Msg("backup.checksum", name=member.name))
                found[member.name] = path
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(Msg("backup.unreadable", reason=type(exc).__name__)) from exc
    missing = sorted(set(manifest.files) - set(found))
    if missing:
        raise BackupError(Msg("backup.missing_member", name=missing[0]))
    return found


def shown(name: str) -> str:
    """A member's name as safe to print: no control characters, at most 100 characters."""
    return "".join(c if c.isprintable() else "?" for c in name[:100])


def compare_tables(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> None:
    """BackupError naming the first table whose rows differ from the manifest's."""
    for name in sorted(set(expected) | set(actual)):
        if expected.get(name) != actual.get(name):
            raise BackupError(Msg("backup.table_mismatch", table=name,
                                  expected=str(expected.get(name, {}).get("rows", "-")),
                                  actual=str(actual.get(name, {}).get("rows", "-"))))
