"""A word index over knowledge chunks, beside the trigram one: Korean's two-syllable words (입사, 첫날, 연차) are
too short for a trigram index and were found by scanning every chunk; this index finds them, and any word with an
ending attached, by prefix (입사* matches 입사, 입사일, 입사는). SQLite: FTS5 with the unicode61 tokenizer (kept by
triggers like chunk_fts, filled from the chunks there are); PostgreSQL: a GIN index on to_tsvector('simple', text).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE chunk_words USING fts5(text, content='chunk', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER chunk_words_insert AFTER INSERT ON chunk BEGIN "
    "INSERT INTO chunk_words(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunk_words_delete AFTER DELETE ON chunk BEGIN "
    "INSERT INTO chunk_words(chunk_words, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunk_words_update AFTER UPDATE OF text ON chunk BEGIN "
    "INSERT INTO chunk_words(chunk_words, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chunk_words(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO chunk_words(chunk_words) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS chunk_words_update",
    "DROP TRIGGER IF EXISTS chunk_words_delete",
    "DROP TRIGGER IF EXISTS chunk_words_insert",
    "DROP TABLE IF EXISTS chunk_words",
]
POSTGRES_UP = ["CREATE INDEX ix_chunk_text_words ON chunk USING gin (to_tsvector('simple', text))"]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_chunk_text_words"]


def upgrade() -> None:
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
