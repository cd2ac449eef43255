"""Backups: round trips on SQLite and PostgreSQL, a backup taken under writes, an older schema, bad archives."""

from __future__ import annotations

import io
import json
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
from core.backup import BackupError, create_backup, prune_backups, restore_backup, verify_backup
from core.backup.archive import table_names, table_snapshot
from core.config import PROJECT_ROOT, Settings, get_settings
from core.models import Conversation, Message, MessageRole, UsageEvent, UsageStatus
from tests.conftest import PG_URL, add_user, create_pg_database, drop_pg_database

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
        session.add(Message(conversation_id=conv.id or 0, role=MessageRole.user, content=f"question {n} 질문"))
        session.add(Message(conversation_id=conv.id or 0, role=MessageRole.assistant, content=f"answer {n}"))
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
