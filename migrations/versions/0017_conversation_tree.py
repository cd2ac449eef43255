"""Conversations as trees: a parent per message (regenerate and edit keep versions), the branch shown, why a reply
ended early, the conversation's knowledge bases, and feedback on replies.

Existing conversations become one branch: each message's parent is the message before it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOPPED = "Stopped before the reply was complete."  # the stored text of Msg("chat.stopped")


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy): message's full-text triggers must survive on SQLite.
    op.add_column("message", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("message", sa.Column("stop_reason", sa.String(16), nullable=True))
    op.create_index("ix_message_parent_id", "message", ["parent_id"], unique=False)
    op.add_column("conversation", sa.Column("leaf_id", sa.Integer(), nullable=True))
    # The reply a usage event's call wrote (plain ADD COLUMN: the rollup triggers on usageevent must survive).
    op.add_column("usageevent", sa.Column("message_id", sa.Integer(), nullable=True))
    op.create_index("ix_usageevent_message_id", "usageevent", ["message_id"], unique=False)
    op.add_column("conversation", sa.Column("knowledge_bases", sa.Text(), nullable=False, server_default="[]"))
    op.create_table(
        "feedback",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], name=op.f("fk_feedback_message_id_message"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_feedback_user_id_user")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_feedback")),
    )
    op.create_index("ix_feedback_user_id", "feedback", ["user_id"], unique=False)
    op.create_index("ix_feedback_updated_at", "feedback", ["updated_at"], unique=False)
    # One branch per existing conversation: the message before each is its parent (the index finds it).
    op.execute("UPDATE message SET parent_id = (SELECT MAX(p.id) FROM message p "
               "WHERE p.conversation_id = message.conversation_id AND p.id < message.id)")
    op.execute("UPDATE message SET stop_reason = 'stopped' WHERE status = 'interrupted' AND error = "
               f"'{STOPPED}'")


def downgrade() -> None:
    op.drop_index("ix_feedback_updated_at", table_name="feedback")
    op.drop_index("ix_feedback_user_id", table_name="feedback")
    op.drop_table("feedback")
    _keep_shown_branches()
    op.drop_index("ix_usageevent_message_id", table_name="usageevent")
    with op.batch_alter_table("usageevent", recreate="never") as batch:
        batch.drop_column("message_id")
    op.drop_index("ix_message_parent_id", table_name="message")
    with op.batch_alter_table("conversation", recreate="never") as batch:
        batch.drop_column("knowledge_bases")
        batch.drop_column("leaf_id")
    with op.batch_alter_table("message", recreate="never") as batch:
        batch.drop_column("stop_reason")
        batch.drop_column("parent_id")


def _keep_shown_branches() -> None:
    """Back to one list per conversation: where there are versions, only the branch shown stays."""
    conn = op.get_bind()
    branched = [row[0] for row in conn.execute(sa.text(
        "SELECT DISTINCT conversation_id FROM message GROUP BY conversation_id, parent_id HAVING COUNT(*) > 1"))]
    for conv_id in branched:
        rows = conn.execute(sa.text("SELECT id, parent_id FROM message WHERE conversation_id = :c"),
                            {"c": conv_id}).all()
        parent = {mid: pid for mid, pid in rows}
        leaf = conn.execute(sa.text("SELECT leaf_id FROM conversation WHERE id = :c"), {"c": conv_id}).scalar()
        at, kept = (leaf if leaf in parent else max(parent)), set()
        while at is not None and at not in kept:
            kept.add(at)
            at = parent.get(at)
        dropped = [mid for mid in parent if mid not in kept]
        for start in range(0, len(dropped), 500):
            ids = dropped[start:start + 500]
            conn.execute(sa.text(f"DELETE FROM messagesource WHERE message_id IN ({','.join(map(str, ids))})"))
            conn.execute(sa.text(f"DELETE FROM message WHERE id IN ({','.join(map(str, ids))})"))
