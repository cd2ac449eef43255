"""The vector store's directory in a backup: vectors.tar inside the archive.

Packed as directories and regular files only, each file's size and SHA-256 listed in the manifest. Unpacked only
as regular files under chroma/, into a staging directory, each checked against the manifest, before anything in
data/ is replaced: a hostile or damaged inner archive cannot write a database, secrets.env, a link or a device.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import IO, Any

from core.backup.archive import BackupError, copy_private, open_private, shown
from core.i18n import Msg

VECTOR_DIR = "chroma"
VECTORS_MEMBER = "vectors.tar"


class _Hashing:
    """A file read through by tarfile: hashes exactly the bytes that go into the archive."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.handle.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def pack_vectors(source: Path, out: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """source (the chroma directory) as a tar at out, 0600 from its first byte, of its directories and regular
    files; returns each file's size and SHA-256 (of the bytes archived) and what was skipped."""
    listing: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    with os.fdopen(open_private(out), "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
        for top, dirs, names in os.walk(source):  # links to directories are listed in dirs, never followed
            here = Path(top)
            relative = VECTOR_DIR if here == source else f"{VECTOR_DIR}/{here.relative_to(source).as_posix()}"
            directory = tarfile.TarInfo(relative)
            directory.type, directory.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(directory)
            for name in [d for d in dirs if (here / d).is_symlink()]:
                dirs.remove(name)
                skipped.append(f"{relative}/{name}")
            dirs.sort()
            for name in sorted(names):
                arcname = f"{relative}/{name}"
                added = _add_file(tar, here / name, arcname)
                if added is None:
                    skipped.append(arcname)
                else:
                    listing[arcname] = added
    return listing, skipped


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str) -> dict[str, Any] | None:
    """path into tar if it is a regular file (never through a link); None for anything else or a file gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a pipe must not block the backup
    except OSError as exc:  # removed by Chroma while packing, or a link (ELOOP) or socket (ENXIO): not a file
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return None
        raise
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            return None
        info = tarfile.TarInfo(arcname)
        info.size, info.mode, info.mtime = status.st_size, 0o600, int(status.st_mtime)
        reader = _Hashing(handle)
        tar.addfile(info, reader)
    return {"bytes": reader.size, "sha256": reader.digest.hexdigest()}


def unpack_vectors(packed: Path, listing: dict[str, dict[str, Any]] | None, into: Path | None) -> None:
    """Check every member of vectors.tar (and, with into, write it under into/chroma as new 0600 files): only
    directories and regular files under chroma/, the files exactly the manifest's listing when it has one."""
    found: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(packed, "r:") as tar:  # we write it uncompressed: nothing to inflate
            for member in tar:
                name = _inside(member.name, directory=member.isdir())
                if member.isdir():
                    if into is not None:
                        _make_dirs(into, name)
                    continue
                if not member.isreg():  # symbolic and hard links, devices, pipes
                    raise BackupError(Msg("backup.vectors_not_file", name=shown(name)))
                if name in found or (listing is not None and name not in listing):
                    raise BackupError(Msg("backup.vectors_mismatch", name=shown(name)))
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                if into is not None:
                    _make_dirs(into, name.rpartition("/")[0])
                found[name] = copy_private(source, None if into is None else into / name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(Msg("backup.unreadable", reason=type(exc).__name__)) from exc
    if listing is not None:
        for name in sorted(set(listing) | set(found)):
            if listing.get(name) != found.get(name):
                raise BackupError(Msg("backup.vectors_mismatch", name=shown(name)))


def _inside(name: str, *, directory: bool) -> str:
    """name if it is chroma itself (a directory) or a plain relative path below it; BackupError otherwise."""
    parts = name.split("/")
    plain = all(part not in ("", ".", "..") and "\\" not in part and "\0" not in part for part in parts)
    if not plain or parts[0] != VECTOR_DIR or (len(parts) == 1 and not directory):
        raise BackupError(Msg("backup.vectors_outside", name=shown(name)))
    return name


def _make_dirs(root: Path, relative: str) -> None:
    """root/relative, each missing level created 0700 (an existing level must be a directory we made)."""
    path = root
    for part in relative.split("/"):
        path = path / part
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if path.is_symlink() or not path.is_dir():
                raise

