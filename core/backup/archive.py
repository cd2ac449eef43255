"""The backup archive: one tar file, a manifest first, then the files it lists with their SHA-256.

The manifest names the schema revision, the app version and every table's row count and checksum, taken in the
same snapshot as the dump, so a restore can prove it put back exactly what was saved.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from core.errors import AppError
from core.i18n import Msg

FORMAT = "parley-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1 << 20
# Derived tables: SQLite's full-text indexes (kept from message and chunk by triggers) and their shadow tables.
SKIPPED_PREFIXES = ("message_fts", "chunk_fts", "sqlite_")


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

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, "app": "parley", **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BackupError(Msg("backup.not_parley")) from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("app") != "parley":
            raise BackupError(Msg("backup.not_parley"))
        if body.get("format_version") != FORMAT_VERSION:
            raise BackupError(Msg("backup.format_version", version=str(body.get("format_version"))))
        try:
            return cls(app_version=str(body["app_version"]), backend=str(body["backend"]),
                       schema_revision=body["schema_revision"], created_at=str(body["created_at"]),
                       tables=dict(body["tables"]), files=dict(body["files"]), notes=list(body.get("notes", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(Msg("backup.not_parley")) from exc


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
    """The archive at target (written beside it, then renamed: a crash leaves no half archive)."""
    for member, path in files.items():
        manifest.files[member] = file_digest(path)
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        raw = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(raw), 0o600
        tar.addfile(info, io.BytesIO(raw))
        for member, path in files.items():
            tar.add(path, arcname=member, recursive=False)
    partial.chmod(0o600)  # it holds the secrets file: whoever reads it can decrypt the stored keys
    partial.replace(target)


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


def extract_verified(archive: Path, manifest: Manifest, into: Path) -> dict[str, Path]:
    """Every file the manifest lists, extracted into `into` and checked against its size and SHA-256."""
    found: dict[str, Path] = {}
    try:
        with tarfile.open(archive, "r") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in manifest.files or not member.isfile():
                    raise BackupError(Msg("backup.unexpected_member", name=member.name[:100]))
                path = into / member.name
                tar.extract(member, into, filter="data")
                if file_digest(path) != manifest.files[member.name]:
                    raise BackupError(Msg("backup.checksum", name=member.name))
                found[member.name] = path
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(Msg("backup.unreadable", reason=type(exc).__name__)) from exc
    missing = sorted(set(manifest.files) - set(found))
    if missing:
        raise BackupError(Msg("backup.missing_member", name=missing[0]))
    return found


def compare_tables(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> None:
    """BackupError naming the first table whose rows differ from the manifest's."""
    for name in sorted(set(expected) | set(actual)):
        if expected.get(name) != actual.get(name):
            raise BackupError(Msg("backup.table_mismatch", table=name,
                                  expected=str(expected.get(name, {}).get("rows", "-")),
                                  actual=str(actual.get(name, {}).get("rows", "-"))))
