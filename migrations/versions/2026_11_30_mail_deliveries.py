"""mail: deliveries recorded by Message-ID, so that a task run twice sends once

Revision ID: ab7ad9fc2c7f
Revises: 6f2a9c3e8d14
Create Date: 2026-11-30 05:31:27.482127
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "ab7ad9fc2c7f"
down_revision: str | Sequence[str] | None = "6f2a9c3e8d14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_deliveries",
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("delivered_at", app.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_mail_deliveries")),
    )
    op.create_index(
        op.f("ix_mail_deliveries_delivered_at"), "mail_deliveries", ["delivered_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_deliveries_delivered_at"), table_name="mail_deliveries")
    op.drop_table("mail_deliveries")
