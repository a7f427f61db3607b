"""cache: invalidations written with the data, applied before Redis entries are trusted

Revision ID: 3d9e6a1c4b57
Revises: 8cb2f06c00a4
Create Date: 2026-11-23 13:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "3d9e6a1c4b57"
down_revision: str | Sequence[str] | None = "8cb2f06c00a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cache_invalidations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=1000), nullable=False),
        sa.Column("is_prefix", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_invalidations")),
    )


def downgrade() -> None:
    op.drop_table("cache_invalidations")
