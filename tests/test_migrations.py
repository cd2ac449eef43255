"""Migrations: up and down on an empty database, on SQLite and PostgreSQL; the alembic CLI too."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import inspect
from sqlmodel import Session, select

from core import db
from core.config import PROJECT_ROOT
from core.models import User

HEAD = "0023"
TABLES = {"user", "auditevent", "conversation", "message", "usageevent", "limitpolicy", "usagedaily",
          "usagedailyerror", "providercredential", "orgsetting", "userpreference", "promptpreset", "apitoken",
          "budgetcounter", "budgethold", "team", "teammember", "priceoverride", "knowledgebase", "kbdocument", "chunk",
          "embeddingcache", "messagesource"}


def test_upgrade_creates_tables_and_downgrade_removes_them(database_url: str) -> None:
    engine = db.get_engine()
    db.upgrade(engine)
    assert db.current_revision(engine) == HEAD
    assert TABLES | {"alembic_version"} <= set(inspect(engine).get_table_names())
    db.downgrade(engine, "0001")
    assert db.current_revision(engine) == "0001"
    assert "conversation" not in inspect(engine).get_table_names()
    db.downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    db.upgrade(engine)  # and up again: the downgrades left nothing behind
    assert db.current_revision(engine) == HEAD


def test_ensure_migrated_runs_once_per_process(database_url: str) -> None:
    engine = db.ensure_migrated()
    db.downgrade(engine, "base")
    db.ensure_migrated()  # already done for this URL in this process: no second upgrade
    assert db.current_revision(engine) is None


def test_datetimes_come_back_timezone_aware_utc(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        admin = session.exec(select(User)).first()
    assert admin is not None
    assert admin.created_at.tzinfo is not None
    assert admin.created_at.utcoffset() == UTC.utcoffset(datetime.now(UTC))


def test_alembic_cli_upgrade_head_uses_settings_url(parley_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "PARLEY_DATABASE_URL": url, "PARLEY_DATA_DIR": str(parley_env)}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=PROJECT_ROOT, env=env,
                   check=True, capture_output=True)
    engine = db.make_engine(url)
    assert db.current_revision(engine) == HEAD
    subprocess.run([sys.executable, "-m", "alembic", "downgrade", "base"], cwd=PROJECT_ROOT, env=env,
                   check=True, capture_output=True)
    assert "user" not in inspect(engine).get_table_names()


def test_models_match_the_migrated_schema(engine) -> None:  # type: ignore[no-untyped-def]
    """The model classes (families, enum-typed columns, the rollup mixin) describe exactly what migrations built."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from core.models import metadata

    def ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        # Search belongs to the database, built by migrations 0005, 0014 and 0022: SQLite's FTS tables, PostgreSQL's
        # trigram and word GIN indexes. Rollup tables are models; their triggers are not schema objects alembic
        # compares.
        search_table = type_ == "table" and reflected and compare_to is None
        return not (search_table or (type_ == "index" and (name or "").endswith(("_trgm", "_words"))))

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": ours})
        assert compare_metadata(context, metadata) == []


def test_enum_columns_read_back_as_enums_and_are_stored_as_plain_strings(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from core.models import Role, UserStatus

    with Session(engine) as session:
        admin = session.exec(select(User).where(User.role == Role.admin)).one()
        stored = session.execute(text("SELECT role, status FROM \"user\" WHERE id = :id"), {"id": admin.id}).one()
    assert admin.role is Role.admin and admin.status is UserStatus.active
    assert tuple(stored) == ("admin", "active") and type(stored[0]) is str


def test_budget_counters_move_from_micro_to_pico_dollars_and_back(database_url: str) -> None:
    """Revision 0016: dollars are counted in pico-dollars (exact for every price); counters and holds in flight keep
    their value across the upgrade (and the downgrade)."""
    from sqlalchemy import text

    engine = db.get_engine()
    db.upgrade(engine, "0015")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO budgetcounter (scope, period, used, held) VALUES "
                          "('user:1:usd', '2026-12', 5, 2), ('user:1:tokens', '2026-12-03', 70, 9)"))
        conn.execute(text("INSERT INTO budgethold (id, user_id, parts, expires_at, created_at) VALUES "
                          "('h1', 1, :p, '2026-12-03 10:00:00', '2026-12-03 09:00:00')"),
                     {"p": '[["user:1:tokens", "2026-12-03", 9, 100], ["user:1:usd", "2026-12", 2, 1000000]]'})
    db.upgrade(engine)
    with engine.connect() as conn:
        counters = dict(conn.execute(text("SELECT scope, used FROM budgetcounter")).all())
        parts = conn.execute(text("SELECT parts FROM budgethold")).scalar_one()
    assert counters == {"user:1:usd": 5_000_000, "user:1:tokens": 70}
    assert '["user:1:usd", "2026-12", 2000000, 1000000000000]' in parts and '"2026-12-03", 9, 100]' in parts
    db.downgrade(engine, "0015")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT used, held FROM budgetcounter WHERE scope = 'user:1:usd'")).one() == (5, 2)


def test_old_conversations_become_one_branch_and_a_downgrade_keeps_the_branch_shown(database_url: str) -> None:
    """Revision 0017: each existing message's parent is the one before it (one branch per conversation); going back
    keeps only the branch shown where versions exist."""
    from sqlalchemy import text
    from sqlmodel import Session

    from core.models import User

    engine = db.get_engine()
    db.upgrade(engine, "0016")
    with Session(engine) as session:  # the user table is the same at 0016
        user = User(username="tree", email="tree@example.com", display_name="Tree", password_hash="x")
        session.add(user)
        session.commit()
        uid = user.id
    with engine.begin() as conn:
        conv = conn.execute(text("INSERT INTO conversation (title, provider, model, system_prompt, params, pinned, "
                                 "archived, created_at, updated_at, user_id) VALUES ('t', 'p', 'm', '', '{}', false, "
                                 "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :u) RETURNING id"), {"u": uid}).scalar()
        for role, content in (("user", "q"), ("assistant", "a"), ("user", "q2")):
            conn.execute(text("INSERT INTO message (conversation_id, role, content, status, created_at) "
                              "VALUES (:c, :r, :t, 'complete', CURRENT_TIMESTAMP)"),
                         {"c": conv, "r": role, "t": content})
    db.upgrade(engine)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, parent_id FROM message WHERE conversation_id = :c ORDER BY id"),
                            {"c": conv}).all()
        assert [p for _, p in rows] == [None, rows[0][0], rows[1][0]]
        # A second version of the first reply, shown: the downgrade keeps q, a2 and drops a, q2.
        a2 = conn.execute(text("INSERT INTO message (conversation_id, role, content, status, created_at, parent_id) "
                               "VALUES (:c, 'assistant', 'a2', 'complete', CURRENT_TIMESTAMP, :p) RETURNING id"),
                          {"c": conv, "p": rows[0][0]}).scalar()
        conn.execute(text("UPDATE conversation SET leaf_id = :a WHERE id = :c"), {"a": a2, "c": conv})
    db.downgrade(engine, "0016")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT content FROM message WHERE conversation_id = :c ORDER BY id"),
                            {"c": conv}).scalars().all()
    assert kept == ["q", "a2"]


def test_the_documents_there_are_get_their_language(engine) -> None:  # type: ignore[no-untyped-def]
    """Migration 0023 (issue #25, query translation): each knowledge document's language, from its text."""
    from sqlalchemy import text

    from core.knowledge import create_knowledge_base
    from core.models import KbDocument

    with Session(engine) as session:
        admin = session.exec(select(User)).one()
        kb_id = create_knowledge_base(session=session, user_id=admin.id or 0, name="Policies").id or 0
        for name, body in (("en.md", "Report a stolen laptop within a day, and tell the service desk."),
                           ("ko.md", "노트북을 도난당하면 하루 안에 서비스 데스크에 신고합니다."), ("empty.md", "")):
            session.add(KbDocument(kb_id=kb_id, name=name, mime="text/markdown", sha256="0" * 64, text=body))
        session.commit()
    db.downgrade(engine, "0022")
    db.upgrade(engine)
    with engine.connect() as connection:
        found = {row.name: row.language for row in connection.execute(text("SELECT name, language FROM kbdocument"))}
    assert found == {"en.md": "en", "ko.md": "ko", "empty.md": ""}
