"""Documents sent with a user's message: an attachment's kind (image, document sent whole, or document whose
passages are retrieved), a document's text and its passages.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attachment", sa.Column("kind", sa.String(16), nullable=False, server_default="image"))
    op.add_column("attachment", sa.Column("text", sa.Text(), nullable=False, server_default=""))
    op.add_column("attachment", sa.Column("passages", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.drop_column("passages")
        batch.drop_column("text")
        batch.drop_column("kind")
