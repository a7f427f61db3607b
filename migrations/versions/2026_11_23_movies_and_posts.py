"""movies and posts: the tables of the two business modules

Revision ID: 8cb2f06c00a4
Revises: 5b1f0c9d7e21
Create Date: 2026-11-23 11:54:55.300381
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "8cb2f06c00a4"
down_revision: str | Sequence[str] | None = "5b1f0c9d7e21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # demo: movies
    op.create_table(
        "movies",
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("released", sa.SmallInteger(), nullable=False),
        sa.Column("rating", sa.Numeric(precision=3, scale=1), nullable=False),
        sa.Column(
            "created_at",
            app.core.db.UTCDateTime(),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            app.core.db.UTCDateTime(),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("rating BETWEEN 0 AND 10.0", name=op.f("ck_movies_rating_range")),
        sa.CheckConstraint("released BETWEEN 1870 AND 2100", name=op.f("ck_movies_released_range")),
        sa.PrimaryKeyConstraint("movie_id", name=op.f("pk_movies")),
    )
    op.create_index(
        "ix_movies_rating_desc_title",
        "movies",
        [sa.literal_column("rating DESC"), "title"],
        unique=False,
    )
    op.create_index(op.f("ix_movies_released"), "movies", ["released"], unique=False)
    op.create_index(op.f("ix_movies_title"), "movies", ["title"], unique=False)
    # end demo: movies
    # demo: posts
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            app.core.db.UTCDateTime(),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            app.core.db.UTCDateTime(),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("deleted_at", app.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    op.create_index(
        "ix_posts_created_at_desc_id",
        "posts",
        [sa.literal_column("created_at DESC"), "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_posts_user_id_created_at_desc",
        "posts",
        ["user_id", sa.literal_column("created_at DESC")],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    # end demo: posts


def downgrade() -> None:
    # demo: posts
    op.drop_index(
        "ix_posts_user_id_created_at_desc",
        table_name="posts",
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_posts_created_at_desc_id",
        table_name="posts",
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_table("posts")
    # end demo: posts
    # demo: movies
    op.drop_index(op.f("ix_movies_title"), table_name="movies")
    op.drop_index(op.f("ix_movies_released"), table_name="movies")
    op.drop_index("ix_movies_rating_desc_title", table_name="movies")
    op.drop_table("movies")
    # end demo: movies
