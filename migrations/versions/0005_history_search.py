"""Full-text search over messages and titles, and the index behind the conversation list.

SQLite: an FTS5 table with the trigram tokenizer (substring search, so Korean words with particles
attached are found: 데이터 finds 데이터베이스를), kept in sync with message by triggers.
PostgreSQL: pg_trgm GIN indexes on message.content and conversation.title (ILIKE '%term%').

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE message_fts USING fts5(content, content='message', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN "
    "INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER message_fts_update AFTER UPDATE OF content ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content); "
    "INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content); END",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS message_fts_update",
    "DROP TRIGGER IF EXISTS message_fts_delete",
    "DROP TRIGGER IF EXISTS message_fts_insert",
    "DROP TABLE IF EXISTS message_fts",
]
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_message_content_trgm ON message USING gin (content gin_trgm_ops)",
    "CREATE INDEX ix_conversation_title_trgm ON conversation USING gin (title gin_trgm_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_conversation_title_trgm",
    "DROP INDEX IF EXISTS ix_message_content_trgm",
]


def upgrade() -> None:
    op.create_index("ix_conversation_user_id_updated_at", "conversation", ["user_id", "updated_at"])
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
    op.drop_index("ix_conversation_user_id_updated_at", table_name="conversation")
