"""The posts module's table."""

from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, SoftDeleteMixin, TimestampMixin

TITLE_MAX_LENGTH = 100
CONTENT_MAX_LENGTH = 20_000


class Post(TimestampMixin, SoftDeleteMixin, Base):
    """A post. `user_id` is the author's id in the auth module: a plain column, no foreign
    key, because modules share no tables; names come through `AuthGateway`."""

    __tablename__ = "posts"
    # UPDATE ... RETURNING brings back the `updated_at` the database set.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's own protocol

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    content: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(Integer)


_LIVE = Post.deleted_at.is_(None)
# The default order of `/posts` (newest first, ties by id, the keyset's row order), over
# live posts only.
Index(
    "ix_posts_created_at_desc_id_desc",
    Post.created_at.desc(),
    Post.id.desc(),
    postgresql_where=_LIVE,
    sqlite_where=_LIVE,
)
# The `user_id` filter in that order, and hiding the posts of a deleted user.
Index(
    "ix_posts_user_id_created_at_desc",
    Post.user_id,
    Post.created_at.desc(),
    postgresql_where=_LIVE,
    sqlite_where=_LIVE,
)
