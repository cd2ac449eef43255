"""Each knowledge document's language, detected from its text at upload (core.knowledge.languages): retrieval asks
for the question in the documents' language when they differ (issue #25, query translation). Filled here for the
documents there are.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.knowledge.languages import SAMPLE, detect

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
BATCH = 500


def upgrade() -> None:
    op.add_column("kbdocument", sa.Column("language", sa.String(length=8), nullable=False, server_default=""))
    bind = op.get_bind()
    documents = sa.table("kbdocument", sa.column("id", sa.Integer), sa.column("text", sa.Text),
                         sa.column("language", sa.String))
    ids = [row[0] for row in bind.execute(sa.select(documents.c.id).order_by(documents.c.id))]
    for start in range(0, len(ids), BATCH):  # a few hundred documents' openings in memory at a time
        batch = ids[start:start + BATCH]
        rows = bind.execute(sa.select(documents.c.id, sa.func.substr(documents.c.text, 1, SAMPLE))
                            .where(documents.c.id.in_(batch))).all()
        for document_id, text in rows:
            language = detect(text or "")
            if language:
                bind.execute(documents.update().where(documents.c.id == document_id).values(language=language))


def downgrade() -> None:
    with op.batch_alter_table("kbdocument") as batch:
        batch.drop_column("language")
