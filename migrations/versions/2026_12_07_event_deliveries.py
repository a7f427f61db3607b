"""events: deliveries to other modules' listeners, written with the event (the event outbox)

Revision ID: 4e8b1d6a9c25
Revises: 9a4c7e0b2d18
Create Date: 2026-12-07 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "4e8b1d6a9c25"
down_revision: str | Sequence[str] | None = "9a4c7e0b2d18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("event_name", sa.String(length=300), nullable=False),
        sa.Column("listener", sa.String(length=300), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("available_at", app.core.db.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", app.core.db.UTCDateTime(), nullable=True),
        sa.Column("dead_at", app.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_deliveries")),
    )
    op.create_index(
        op.f("ix_event_deliveries_available_at"),
        "event_deliveries",
        ["available_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_event_deliveries_delivered_at"),
        "event_deliveries",
        ["delivered_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_event_deliveries_delivered_at"), table_name="event_deliveries")
    op.drop_index(op.f("ix_event_deliveries_available_at"), table_name="event_deliveries")
    op.drop_table("event_deliveries")
