"""Knowledge bases, their documents and chunks (with a keyword index: FTS5 trigram on SQLite, pg_trgm on
PostgreSQL), cached embeddings by content hash, and the numbered sources an answer was given.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE chunk_fts USING fts5(text, content='chunk', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER chunk_fts_insert AFTER INSERT ON chunk BEGIN "
    "INSERT INTO chunk_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunk_fts_delete AFTER DELETE ON chunk BEGIN "
    "INSERT INTO chunk_fts(chunk_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunk_fts_update AFTER UPDATE OF text ON chunk BEGIN "
    "INSERT INTO chunk_fts(chunk_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chunk_fts(rowid, text) VALUES (new.id, new.text); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS chunk_fts_update",
    "DROP TRIGGER IF EXISTS chunk_fts_delete",
    "DROP TRIGGER IF EXISTS chunk_fts_insert",
    "DROP TABLE IF EXISTS chunk_fts",
]
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_chunk_text_trgm ON chunk USING gin (text gin_trgm_ops)",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_chunk_text_trgm"]


def upgrade() -> None:
    op.create_table('embeddingcache',
    sa.Column('embedder', sa.String(length=160), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('embedder', 'content_hash', name=op.f('pk_embeddingcache'))
    )
    op.create_table('knowledgebase',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('embedder', sa.String(length=160), nullable=False),
    sa.Column('sharing', sa.String(length=16), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_knowledgebase_owner_id_user')),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_knowledgebase_team_id_team'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledgebase'))
    )
    op.create_index(op.f('ix_knowledgebase_owner_id'), 'knowledgebase', ['owner_id'], unique=False)
    op.create_index(op.f('ix_knowledgebase_team_id'), 'knowledgebase', ['team_id'], unique=False)

    op.create_table('kbdocument',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kb_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('mime', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('chunks', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['kb_id'], ['knowledgebase.id'], name=op.f('fk_kbdocument_kb_id_knowledgebase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kbdocument'))
    )
    op.create_index(op.f('ix_kbdocument_kb_id'), 'kbdocument', ['kb_id'], unique=False)

    op.create_table('chunk',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('kb_id', sa.Integer(), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('page', sa.Integer(), nullable=True),
    sa.Column('section', sa.String(length=300), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['kbdocument.id'], name=op.f('fk_chunk_document_id_kbdocument')),
    sa.ForeignKeyConstraint(['kb_id'], ['knowledgebase.id'], name=op.f('fk_chunk_kb_id_knowledgebase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chunk'))
    )
    op.create_index('ix_chunk_document_id_ordinal', 'chunk', ['document_id', 'ordinal'], unique=False)
    op.create_index(op.f('ix_chunk_kb_id'), 'chunk', ['kb_id'], unique=False)

    op.create_table('messagesource',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('kb_id', sa.Integer(), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('chunk_id', sa.Integer(), nullable=True),
    sa.Column('document_name', sa.String(length=200), nullable=False),
    sa.Column('page', sa.Integer(), nullable=True),
    sa.Column('section', sa.String(length=300), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('snippet', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_messagesource_message_id_message'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'n', name=op.f('pk_messagesource'))
    )
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
    op.drop_table("messagesource")
    op.drop_index("ix_chunk_kb_id", table_name="chunk")
    op.drop_index("ix_chunk_document_id_ordinal", table_name="chunk")
    op.drop_table("chunk")
    op.drop_index("ix_kbdocument_kb_id", table_name="kbdocument")
    op.drop_table("kbdocument")
    op.drop_index("ix_knowledgebase_team_id", table_name="knowledgebase")
    op.drop_index("ix_knowledgebase_owner_id", table_name="knowledgebase")
    op.drop_table("knowledgebase")
    op.drop_table("embeddingcache")
