"""queue: the transactional outbox of enqueued tasks

Revision ID: 5b1f0c9d7e21
Revises: a7c3e91d2f40
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "5b1f0c9d7e21"
down_revision: str | Sequence[str] | None = "a7c3e91d2f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_name", sa.String(length=300), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("available_at", app.core.db.UTCDateTime(), nullable=True),
        sa.Column("sent_at", app.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_outbox")),
    )
    op.create_index(op.f("ix_queue_outbox_sent_at"), "queue_outbox", ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_queue_outbox_sent_at"), table_name="queue_outbox")
    op.drop_table("queue_outbox")
