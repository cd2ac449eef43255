"""Putting a verified restore in place: renames from the staging directory (inside data/, so on the same
filesystem), each one undone if a later step fails, so that a refused restore leaves data/ as it was."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from core.backup.archive import BackupError
from core.i18n import Msg

Undo = Callable[[], None]


def nothing() -> None:
    """The undo of a step that changed nothing."""


def _failed(name: str, exc: OSError) -> BackupError:
    return BackupError(Msg("backup.place_failed", name=name, reason=exc.strerror or type(exc).__name__))


def place_vectors(staged: Path, target: Path, attic: Path) -> Undo:
    """staged becomes target; a previous target moves into attic (deleted with the staging directory)."""
    if not staged.is_dir():
        staged.mkdir(mode=0o700)  # the archive of an empty store
    had = target.exists() or target.is_symlink()
    try:
        if had:
            os.replace(target, attic)
        try:
            os.replace(staged, target)
        except OSError:
            if had:
                os.replace(attic, target)
            raise
    except OSError as exc:
        raise _failed(target.name, exc) from exc

    def undo() -> None:
        os.replace(target, staged)
        if had:
            os.replace(attic, target)

    return undo


def place_secrets(staged: Path, target: Path) -> tuple[Path | None, Undo]:
    """staged (0600) renamed over target. A previous, different target is first copied beside it (0600): it may
    decrypt something this restore does not know about. Returns that copy, if any, and how to undo."""
    previous = target.read_bytes() if target.is_file() else None
    kept = None
    try:
        if previous is not None and previous != staged.read_bytes():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = _private_file(target.parent, f"{target.name}.before-restore-{stamp}-", previous)
        os.replace(staged, target)
    except OSError as exc:
        if kept is not None:
            kept.unlink(missing_ok=True)
        raise _failed(target.name, exc) from exc

    def undo() -> None:
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            os.replace(_private_file(target.parent, f".{target.name}.", previous), target)
        if kept is not None:
            kept.unlink(missing_ok=True)

    return kept, undo


def place_file(staged: Path, target: Path) -> None:
    """staged becomes target (the SQLite database), 0600: first moved beside it, so the last step is one rename
    (the target may be outside data/, on another filesystem)."""
    try:
        beside = _private_file(target.parent, f".{target.name}.restore-", b"")
        try:
            try:
                os.replace(staged, beside)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                with staged.open("rb") as source, beside.open("wb") as copy:
                    shutil.copyfileobj(source, copy, 1 << 20)
                    copy.flush()
                    os.fsync(copy.fileno())
            for suffix in ("-wal", "-shm"):  # the old file's journal must never be replayed onto the restored one
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(beside, target)
        except BaseException:
            beside.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _failed(target.name, exc) from exc


def _private_file(directory: Path, prefix: str, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)  # 0600 from the start
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return Path(name)
