"""Backups: round trips on SQLite and PostgreSQL, a backup taken under writes, an older schema, bad archives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import db
from core.backup import BackupError, create_backup, prune_backups, restore_backup, service, verify_backup
from core.backup.archive import table_names, table_snapshot
from core.config import PROJECT_ROOT, Settings, get_settings
from core.history.attachments import Upload, attach, document_file, image_file
from core.i18n import Msg
from core.models import Conversation, Message, MessageRole, UsageEvent, UsageStatus
from tests.conftest import PG_URL, add_user, create_pg_database, drop_pg_database
from tests.providers.test_images import picture

WRITERS = 20


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return get_settings()


@pytest.fixture
def target(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty place to restore into: another data directory and another database."""
    data_dir = tmp_path / "restored"
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{data_dir / 'parley.db'}"
        yield get_settings().model_copy(update={"data_dir": data_dir, "database_url": url})
        return
    url = create_pg_database()
    try:
        yield get_settings().model_copy(update={"data_dir": data_dir, "database_url": url})
    finally:
        drop_pg_database(url)


def _fill(session: Session, conversations: int = 30) -> None:
    uid = add_user(session, "alice")
    for n in range(conversations):
        conv = Conversation(user_id=uid, title=f"데이터 {n}", provider="local", model="m")
        session.add(conv)
        session.flush()
        asked = Message(conversation_id=conv.id or 0, role=MessageRole.user, content=f"question {n} 질문")
        session.add(asked)
        session.add(Message(conversation_id=conv.id or 0, role=MessageRole.assistant, content=f"answer {n}"))
        session.flush()
        if n < 3:  # files sent with a message: their rows and their bytes (images as bytes, binary columns)
            attach(session, asked.id or 0, [image_file(Upload(f"shot {n}.png", picture(40 + n, 30)), get_settings()),
                                            document_file("note.md", b"# Note\n\nkept", "text/markdown", "kept")])
        session.add(UsageEvent(user_id=uid, conversation_id=conv.id, provider="local", model="m",
                               tokens_in=n, tokens_out=2 * n, cost_usd=0.0, status=UsageStatus.complete))
    session.commit()


def _snapshot(url: str) -> dict[str, dict[str, object]]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            return table_snapshot(connection, table_names(connection))
    finally:
        engine.dispose()


def test_round_trip_restores_every_table_identically(engine, settings, session, target, tmp_path) -> None:
    _fill(session)
    before = _snapshot(settings.sqlalchemy_url)
    archive = create_backup(settings, tmp_path / "backups")
    manifest = verify_backup(archive)
    assert manifest.tables == before and manifest.schema_revision == db.current_revision(engine)
    assert manifest.tables["message"]["rows"] == 60 and "secrets.env" in manifest.files
    assert (manifest.tables["attachment"]["rows"], manifest.tables["attachmentblob"]["rows"]) == (6, 4)
    result = restore_backup(target, archive)
    assert _snapshot(target.sqlalchemy_url) == before  # row counts and checksums, table by table
    assert result.secrets_restored
    assert (target.data_dir / "secrets.env").read_bytes() == (settings.data_dir / "secrets.env").read_bytes()
    assert (target.data_dir / "secrets.env").stat().st_mode & 0o077 == 0
    assert archive.stat().st_mode & 0o077 == 0  # it holds the secrets file


def test_a_backup_taken_while_twenty_threads_write_restores_consistently(engine, settings, session, target,
                                                                           tmp_path) -> None:
    uid = add_user(session, "writer")
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        # Each transaction: one conversation and exactly three messages (all or nothing).
        while not stop.is_set():
            try:
                with Session(engine) as s:
                    conv = Conversation(user_id=uid, provider="local", model="m")
                    s.add(conv)
                    s.flush()
                    for n in range(3):
                        s.add(Message(conversation_id=conv.id or 0, role=MessageRole.user, content=f"m{n}"))
                    s.commit()
            except Exception as exc:  # SQLite's busy writer: retried by the loop, never fatal to the test
                if "locked" not in str(exc):
                    errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        archive = create_backup(settings, tmp_path / "backups")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    manifest = verify_backup(archive)
    assert manifest.tables["conversation"]["rows"] > 0
    restore_backup(target, archive)
    restored = db.make_engine(target.sqlalchemy_url)
    try:
        with restored.connect() as connection:
            counts = connection.execute(text(
                "SELECT c.id, count(m.id) FROM conversation c LEFT JOIN message m ON m.conversation_id = c.id "
                "GROUP BY c.id")).all()
            orphans = connection.execute(text(
                "SELECT count(*) FROM message m WHERE NOT EXISTS "
                "(SELECT 1 FROM conversation c WHERE c.id = m.conversation_id)")).scalar()
    finally:
        restored.dispose()
    assert counts and {n for _, n in counts} == {3} and orphans == 0
    assert len(counts) == manifest.tables["conversation"]["rows"]


def test_a_backup_of_the_previous_schema_restores_and_migrates(database_url, parley_env, target, tmp_path) -> None:
    settings = get_settings()
    old = db.make_engine(settings.sqlalchemy_url)
    db.upgrade(old, "0012")
    with old.begin() as connection:
        connection.execute(text("INSERT INTO \"user\" (username, email, display_name, password_hash, role, status, "
                                "failed_login_attempts, sessions_valid_after, created_at) VALUES ('old', "
                                "'o@example.com', 'Old', 'x', 'user', 'active', 0, '2026-01-01 00:00:00+00:00', "
                                "'2026-01-01 00:00:00+00:00')"))
    old.dispose()
    archive = create_backup(settings, tmp_path / "backups")
    manifest = verify_backup(archive)
    assert manifest.schema_revision == "0012"
    result = restore_backup(target, archive)
    assert result.migrated_to == db.current_revision(db.make_engine(target.sqlalchemy_url)) != "0012"
    assert _snapshot(target.sqlalchemy_url)["user"]["rows"] == 1


def _rewrite(archive: Path, out: Path, *, manifest: dict[str, object] | None = None,
             corrupt: str | None = None) -> Path:
    """A copy of archive with its manifest replaced or one member's bytes changed (the manifest left as it was)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json" and manifest is not None:
                data = json.dumps(manifest).encode()
            if member.name == corrupt:
                data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


def _target_is_empty(target: Settings) -> bool:
    if target.sqlalchemy_url.startswith("sqlite"):
        path = target.data_dir / "parley.db"
        return not path.exists() or path.stat().st_size == 0
    engine = db.make_engine(target.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            return table_names(connection) == []
    finally:
        engine.dispose()


def test_bad_archives_are_refused_clearly_and_nothing_is_written(engine, settings, session, target,
                                                                 tmp_path) -> None:
    _fill(session, conversations=3)
    archive = create_backup(settings, tmp_path / "backups")
    raw = archive.read_bytes()
    database = "database.sqlite3" if settings.sqlalchemy_url.startswith("sqlite") else "database.pgdump"
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(raw[: len(raw) // 2])
    manifest = json.loads(tarfile.open(archive).extractfile("manifest.json").read())  # type: ignore[union-attr]
    other_app = _rewrite(archive, tmp_path / "other.tar", manifest={**manifest, "app": "open-webui"})
    damaged = _rewrite(archive, tmp_path / "damaged.tar", corrupt=database)
    not_tar = tmp_path / "notes.tar"
    not_tar.write_text("just some text")
    cases = {truncated: "truncated or damaged", other_app: "not a Parley backup", damaged: "checksum",
             not_tar: "cannot be read"}
    for bad, says in cases.items():
        for action in (verify_backup, lambda path: restore_backup(target, path)):
            with pytest.raises(BackupError) as refused:
                action(bad)
            assert says in str(refused.value.user_message), (bad.name, refused.value.user_message)
        assert _target_is_empty(target), bad.name
        assert not (target.data_dir / "secrets.env").exists()


def test_a_target_holding_data_is_refused_unless_forced(engine, settings, session, tmp_path) -> None:
    _fill(session, conversations=2)
    archive = create_backup(settings, tmp_path / "backups")
    with pytest.raises(BackupError, match="already holds data"):
        restore_backup(settings, archive)
    with Session(engine) as s:  # a change after the backup, undone by the forced restore
        s.add(Conversation(user_id=1, provider="local", model="m", title="after the backup"))
        s.commit()
    engine.dispose()
    db.reset_caches()
    restore_backup(settings, archive, force=True)
    assert _snapshot(settings.sqlalchemy_url) == verify_backup(archive).tables


def test_prune_keeps_daily_and_weekly_archives(tmp_path) -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    for hours in range(0, 24 * 60, 12):  # two a day for 60 days
        stamp = (now - timedelta(hours=hours)).strftime("%Y%m%dT%H%M%SZ")
        (tmp_path / f"parley-backup-{stamp}.tar").write_bytes(b"x")
    (tmp_path / "unrelated.tar").write_bytes(b"x")
    removed = prune_backups(tmp_path, keep_daily=7, keep_weekly=4, now=now)
    kept = sorted(p.name for p in tmp_path.glob("parley-backup-*.tar"))
    assert len(removed) + len(kept) == 120 and (tmp_path / "unrelated.tar").exists()
    days = {name[14:22] for name in kept}
    assert len(kept) == len(days)  # one per day at most: the newest of that day
    assert {(now - timedelta(days=d)).strftime("%Y%m%d") for d in range(7)} <= days
    assert 7 <= len(kept) <= 7 + 4


@pytest.mark.skipif(not PG_URL, reason="needs PARLEY_TEST_DATABASE_URL")
def test_a_sqlite_backup_does_not_restore_into_postgresql(parley_env, tmp_path) -> None:
    from core import app as core_app

    core_app.startup()
    archive = create_backup(get_settings(), tmp_path / "backups")
    url = create_pg_database()
    try:
        pg = get_settings().model_copy(update={"database_url": url, "data_dir": tmp_path / "pg"})
        with pytest.raises(BackupError, match="sqlite database"):
            restore_backup(pg, archive)
    finally:
        drop_pg_database(url)


def test_the_command_line(sqlite_app, tmp_path) -> None:
    run = [sys.executable, "-m", "core.backup"]
    created = subprocess.run([*run, "create", "--dir", str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, check=True)
    archive = created.stdout.strip()
    assert "decrypt" in created.stderr  # the warning about secrets.env
    verified = subprocess.run([*run, "verify", archive], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=True)
    assert verified.stdout.startswith("ok: sqlite, schema")
    refused = subprocess.run([*run, "restore", archive], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert refused.returncode == 1 and "already holds data" in refused.stderr


# --- Hardening round 2 (issue 21): rows 10, 11 and 19 ---------------------------------------------------------------


def _add_vector_store(data_dir: Path) -> dict[str, bytes]:
    """A small chroma/ directory as Chroma leaves it (files 0644); returns its files' bytes by archive name."""
    files = {"chroma/chroma.sqlite3": b"SQLite format 3\0" + bytes(range(256)) * 8,
             "chroma/6f1c0d3e/data_level0.bin": b"\x01\x02" * 700, "chroma/6f1c0d3e/header.bin": b"hdr"}
    for name, data in files.items():
        path = data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o644)
    return files


def _tree(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every entry under root: its mode and its bytes (files) or target (links)."""
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = (status.st_mode, os.readlink(path))
        else:
            found[str(path.relative_to(root))] = (status.st_mode, path.read_bytes() if path.is_file() else None)
    return found


def _state(target: Settings) -> tuple[object, object]:
    """Everything a restore could change: the data directory, byte for byte, and the database's tables."""
    return _tree(target.data_dir), _snapshot(target.sqlalchemy_url)


@pytest.fixture
def private_umask() -> Iterator[None]:
    """The usual umask (022): a file created without an explicit mode would be readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_r2_row10_the_archive_and_every_temporary_file_are_0600_from_the_first_byte(
        engine, settings, session, tmp_path, monkeypatch, private_umask) -> None:
    _fill(session, conversations=3)
    _add_vector_store(settings.data_dir)
    out = tmp_path / "backups"
    seen: dict[str, int] = {}  # every file under out seen while the archive was written, with its loosest mode

    def look() -> None:
        for top, _, names in os.walk(out):
            for name in names:
                try:
                    mode = (Path(top) / name).lstat().st_mode
                except FileNotFoundError:  # renamed or cleaned up meanwhile
                    continue
                key = str((Path(top) / name).relative_to(out))
                seen[key] = seen.get(key, 0) | (mode & 0o777)

    add = tarfile.TarFile.addfile

    def watched_add(self: tarfile.TarFile, tarinfo: tarfile.TarInfo, fileobj: object = None) -> None:
        look()  # the writer's view: before every member, of the archive, the vectors archive and the dump
        add(self, tarinfo, fileobj)  # type: ignore[arg-type]
        look()

    monkeypatch.setattr(tarfile.TarFile, "addfile", watched_add)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.001):
            look()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        archive = create_backup(settings, out)
    finally:
        stop.set()
        poller.join()
    assert any(name.endswith(".partial") for name in seen) and any("database." in name for name in seen)
    assert any(name.endswith("vectors.tar") for name in seen)
    assert {name: oct(mode) for name, mode in seen.items() if mode & 0o077} == {}
    assert archive.stat().st_mode & 0o777 == 0o600 and (out.stat().st_mode & 0o777) == 0o700
    assert sorted(p.name for p in out.iterdir()) == [archive.name]  # no temporary file left behind


def _member(name: str, data: bytes | None = b"x", *, kind: bytes = tarfile.REGTYPE, link: str = "",
            mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, data


def _digest(data: bytes) -> dict[str, object]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _with_vectors(archive: Path, out: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], *,
                  listing: object = "computed", version: int = 2, raw: bytes | None = None) -> Path:
    """A copy of archive whose vectors.tar holds members, with a manifest consistent with it (as an attacker can
    write one): vectors.tar's size and SHA-256, and by default the listing of its regular files."""
    if raw is None:
        inner = io.BytesIO()
        with tarfile.open(fileobj=inner, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for info, data in members:
                info.size = len(data) if data is not None and info.isreg() else 0
                tar.addfile(info, io.BytesIO(data) if data is not None and info.isreg() else None)
        raw = inner.getvalue()
    with tarfile.open(archive) as src:
        manifest = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
        manifest["files"]["vectors.tar"] = _digest(raw)
        manifest["format_version"] = version
        if listing == "computed":
            manifest["vectors"] = {i.name: _digest(d) for i, d in members if i.isreg() and d is not None}
        elif listing is None:
            manifest.pop("vectors", None)
        else:
            manifest["vectors"] = listing
        with tarfile.open(out, "w") as dst:
            for member in src:
                data = src.extractfile(member).read()  # type: ignore[union-attr]
                data = json.dumps(manifest).encode() if member.name == "manifest.json" else data
                data = raw if member.name == "vectors.tar" else data
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
    return out


def _hostile_vectors(tmp_path: Path) -> dict[str, tuple[list[tuple[tarfile.TarInfo, bytes | None]], object, str]]:
    """Inner archives that must be refused: members, the manifest's listing, and what the refusal says."""
    good = [_member("chroma", None, kind=tarfile.DIRTYPE), _member("chroma/a", b"a")]
    outside, not_file = "not a plain path under chroma/", "not a regular file"
    mismatch = "does not match the backup's manifest"
    return {
        "database": ([*good, _member("parley.db", b"SQLite format 3\0 with an extra admin")], "computed", outside),
        "secrets": ([*good, _member("secrets.env", b"PARLEY_COOKIE_KEY=attacker\n")], "computed", outside),
        "parent": ([*good, _member("../x")], "computed", outside),
        "absolute": ([*good, _member(str(tmp_path / "absolute-x"))], "computed", outside),
        "dot-dot inside": ([*good, _member("chroma/../parley.db")], "computed", outside),
        "deep dot-dot": ([*good, _member("chroma/sub/../../secrets.env")], "computed", outside),
        "file named chroma": ([_member("chroma")], "computed", outside),
        "symlink": ([*good, _member("chroma/link", None, kind=tarfile.SYMTYPE, link="../secrets.env")],
                    "computed", not_file),
        "absolute symlink": ([*good, _member("chroma/etc", None, kind=tarfile.SYMTYPE, link="/etc/passwd")],
                             "computed", not_file),
        "hard link": ([*good, _member("chroma/hard", None, kind=tarfile.LNKTYPE, link="secrets.env")],
                      "computed", not_file),
        "device": ([*good, _member("chroma/null", None, kind=tarfile.CHRTYPE)], "computed", not_file),
        "pipe": ([*good, _member("chroma/fifo", None, kind=tarfile.FIFOTYPE)], "computed", not_file),
        "changed": (good, {"chroma/a": _digest(b"b")}, mismatch),
        "unlisted": ([*good, _member("chroma/extra")], {"chroma/a": _digest(b"a")}, mismatch),
        "missing": (good, {"chroma/a": _digest(b"a"), "chroma/gone": _digest(b"g")}, mismatch),
        "repeated": ([*good, _member("chroma/a", b"a")], "computed", mismatch),
        "no listing": (good, None, "does not list the vector store's files"),
    }


def _populated(settings: Settings, session: Session, target: Settings, tmp_path: Path) -> Path:
    """An archive with a vector store, and a target holding data, its own secrets.env and its own vectors."""
    _fill(session, conversations=2)
    _add_vector_store(settings.data_dir)
    archive = create_backup(settings, tmp_path / "backups")
    restore_backup(target, archive)
    (target.data_dir / "chroma" / "mine.bin").write_bytes(b"only in the target")
    (target.data_dir / "secrets.env").write_text("PARLEY_COOKIE_KEY=the-target-s-own\n")
    return archive


def test_r2_row11_hostile_vector_archives_are_refused_and_nothing_in_the_target_changes(
        engine, settings, session, target, tmp_path) -> None:
    archive = _populated(settings, session, target, tmp_path)
    before = _state(target)
    cases = _hostile_vectors(tmp_path)
    for label, (members, listing, says) in cases.items():
        # Format 2 lists the files; format 1 (older archives) did not, and is held to the same structural rules.
        versions = [2] if listing != "computed" else [1, 2]
        for version in versions:
            hostile = _with_vectors(archive, tmp_path / f"hostile-{version}-{label.replace(' ', '-')}.tar",
                                    members, listing=listing if version == 2 else None, version=version)
            for action in (verify_backup, lambda path: restore_backup(target, path, force=True)):  # even forced
                with pytest.raises(BackupError) as refused:
                    action(hostile)
                assert says in refused.value.user_message, (label, version, refused.value.user_message)
                assert "Nothing was restored" in refused.value.user_message
            assert _state(target) == before, (label, version)
    garbage = _with_vectors(archive, tmp_path / "garbage.tar", [], listing={}, raw=b"not a tar at all" * 64)
    with pytest.raises(BackupError, match="cannot be read"):
        restore_backup(target, garbage, force=True)
    assert _state(target) == before
    assert not (tmp_path / "absolute-x").exists() and not (tmp_path / "x").exists()


def test_r2_row11_a_step_that_fails_after_the_files_are_swapped_puts_them_back(engine, settings, session, target,
                                                                             tmp_path, monkeypatch) -> None:
    archive = _populated(settings, session, target, tmp_path)
    before = _state(target)

    def fails(*args: object, **kwargs: object) -> None:
        raise BackupError(Msg("backup.tool_failed", tool="pg_restore", reason="disk full"))

    monkeypatch.setattr(service, "_load_database", fails)  # the database step comes after the files' renames
    with pytest.raises(BackupError, match="disk full"):
        restore_backup(target, archive, force=True)
    assert _state(target) == before


def test_a_backup_of_an_unknown_newer_schema_is_refused_before_writing(engine, settings, session, target,
                                                                       tmp_path) -> None:
    archive = _populated(settings, session, target, tmp_path)
    manifest = json.loads(tarfile.open(archive).extractfile("manifest.json").read())  # type: ignore[union-attr]
    newer = _rewrite(archive, tmp_path / "newer.tar", manifest={**manifest, "schema_revision": "0999_future"})
    before = _state(target)
    with pytest.raises(BackupError, match="0999_future, which this version of Parley does not know"):
        restore_backup(target, newer, force=True)
    assert _state(target) == before


def test_r2_row11_the_manifest_lists_every_vector_store_file_and_restore_puts_back_exactly_those(
        engine, settings, session, target, tmp_path) -> None:
    files = _add_vector_store(settings.data_dir)
    (settings.data_dir / "chroma" / "outside-link").symlink_to(settings.data_dir / "secrets.env")
    archive = create_backup(settings, tmp_path / "backups")
    manifest = verify_backup(archive)
    assert manifest.format_version == 2 and manifest.vectors == {n: _digest(d) for n, d in files.items()}
    assert any("chroma/outside-link" in note for note in manifest.notes)  # left out, and said so
    restore_backup(target, archive)
    chroma = target.data_dir / "chroma"
    restored = {f"chroma/{p.relative_to(chroma).as_posix()}": p for p in chroma.rglob("*") if not p.is_dir()}
    assert {name: path.read_bytes() for name, path in restored.items()} == files
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in restored.values())
    assert [p.name for p in target.data_dir.iterdir() if p.name.startswith(".parley-restore")] == []


def test_r2_row11_secrets_env_is_only_ever_written_0600(engine, settings, session, target, tmp_path,
                                                         private_umask) -> None:
    _add_vector_store(settings.data_dir)
    archive = create_backup(settings, tmp_path / "backups")
    watched = {target.data_dir / "secrets.env"}
    modes: list[tuple[str, str]] = []
    state = {"on": False, "inside": False}

    def audit(event: str, args: tuple[object, ...]) -> None:
        if not state["on"] or state["inside"]:
            return
        state["inside"] = True
        try:
            if event == "open" and isinstance(args[0], str | Path) and "secrets.env" in str(args[0]):
                watched.add(Path(str(args[0])))
            for path in list(watched):  # before every file operation: what the secrets files look like now
                if path.exists():
                    modes.append((event, oct(path.stat().st_mode & 0o777)))
        finally:
            state["inside"] = False

    sys.addaudithook(audit)  # hooks cannot be removed: this one does nothing once the test ends
    state["on"] = True
    try:
        restore_backup(target, archive)
    finally:
        state["on"] = False
    assert modes and {mode for _, mode in modes} == {"0o600"}, modes


def test_a_format_1_archive_still_restores_and_is_held_to_the_same_rules(engine, settings, session, target,
                                                                          tmp_path) -> None:
    """Archives written before the manifest listed the vector store's files: checked for structure only."""
    archive = create_backup(settings, tmp_path / "backups")  # no chroma/: the archive has no vectors.tar
    old_style = io.BytesIO()
    source = tmp_path / "old" / "chroma"
    source.mkdir(parents=True)
    (source / "chroma.sqlite3").write_bytes(b"old store")
    with tarfile.open(fileobj=old_style, mode="w") as tar:
        tar.add(source, arcname="chroma")  # as format 1 packed it
    with tarfile.open(archive) as src, tarfile.open(tmp_path / "base.tar", "w") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("vectors.tar")
        info.size = 0
        dst.addfile(info, io.BytesIO(b""))
    legacy = _with_vectors(tmp_path / "base.tar", tmp_path / "legacy.tar", [], listing=None, version=1,
                           raw=old_style.getvalue())
    hostile = _with_vectors(tmp_path / "base.tar", tmp_path / "legacy-hostile.tar",
                            [_member("chroma", None, kind=tarfile.DIRTYPE), _member("parley.db")], listing=None,
                            version=1)
    with pytest.raises(BackupError, match="not a plain path"):
        restore_backup(target, hostile)
    assert _target_is_empty(target) and not (target.data_dir / "chroma").exists()
    assert verify_backup(legacy).vectors is None
    restore_backup(target, legacy)
    assert (target.data_dir / "chroma" / "chroma.sqlite3").read_bytes() == b"old store"


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PARLEY_DATA_DIR": str(settings.data_dir), "PARLEY_DATABASE_URL": settings.database_url}
    return subprocess.run([sys.executable, "-m", "core.backup", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True)


def test_r2_row19_the_command_restores_onto_a_new_machine_without_force(engine, settings, session, target,
                                                                       tmp_path) -> None:
    _fill(session, conversations=2)
    files = _add_vector_store(settings.data_dir)
    archive = create_backup(settings, tmp_path / "backups")
    assert not target.data_dir.exists()  # a new machine: no data directory, no database, no secrets.env
    restored = _cli(target, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "secrets.env restored" in restored.stdout and "kept as" not in restored.stderr
    secrets = target.data_dir / "secrets.env"
    assert secrets.read_bytes() == (settings.data_dir / "secrets.env").read_bytes()
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert _snapshot(target.sqlalchemy_url) == verify_backup(archive).tables
    assert (target.data_dir / "chroma" / "chroma.sqlite3").read_bytes() == files["chroma/chroma.sqlite3"]
    assert sorted(p.name for p in target.data_dir.iterdir() if p.name.startswith("secrets.env")) == ["secrets.env"]
    before = _state(target)
    again = _cli(target, "restore", str(archive))  # now the database holds data: --force is the only way over it
    assert again.returncode == 1 and "already holds data" in again.stderr and "Traceback" not in again.stderr
    assert _state(target) == before
    forced = _cli(target, "restore", "--force", str(archive))
    assert forced.returncode == 0, forced.stderr


def test_r2_row19_a_different_secrets_env_over_an_empty_database_is_replaced_and_kept_beside(
        engine, settings, session, target, tmp_path) -> None:
    _fill(session, conversations=2)
    archive = create_backup(settings, tmp_path / "backups")
    target.data_dir.mkdir(mode=0o700)
    previous = target.data_dir / "secrets.env"
    previous.write_text("PARLEY_COOKIE_KEY=configured-on-purpose-before-the-restore\n")
    previous.chmod(0o600)
    result = restore_backup(target, archive)  # the database is empty: no --force needed
    assert previous.read_bytes() == (settings.data_dir / "secrets.env").read_bytes()
    assert result.secrets_restored and result.secrets_kept is not None
    assert result.secrets_kept.parent == target.data_dir
    assert result.secrets_kept.read_text() == "PARLEY_COOKIE_KEY=configured-on-purpose-before-the-restore\n"
    assert result.secrets_kept.stat().st_mode & 0o777 == 0o600
    assert _snapshot(target.sqlalchemy_url) == verify_backup(archive).tables


def test_r2_row19_a_database_holding_data_still_needs_force(engine, settings, session, target, tmp_path) -> None:
    _fill(session, conversations=2)
    archive = create_backup(settings, tmp_path / "backups")
    restore_backup(target, archive)
    (target.data_dir / "secrets.env").unlink()  # nothing in the way but the data itself
    before = _state(target)
    with pytest.raises(BackupError, match="already holds data"):
        restore_backup(target, archive)
    assert _state(target) == before
    assert restore_backup(target, archive, force=True).secrets_restored
