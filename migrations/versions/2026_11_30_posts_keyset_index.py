"""posts: the newest-first index orders ties by id descending too (keyset paging)

Revision ID: 6f2a9c3e8d14
Revises: 3d9e6a1c4b57
Create Date: 2026-11-30 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f2a9c3e8d14"
down_revision: str | Sequence[str] | None = "3d9e6a1c4b57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.drop_index(
        "ix_posts_created_at_desc_id", table_name="posts", postgresql_where=LIVE, sqlite_where=LIVE
    )
    op.create_index(
        "ix_posts_created_at_desc_id_desc",
        "posts",
        [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_posts_created_at_desc_id_desc",
        table_name="posts",
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index(
        "ix_posts_created_at_desc_id",
        "posts",
        [sa.literal_column("created_at DESC"), "id"],
        unique=False,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
