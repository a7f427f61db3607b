"""Who may do what to a post: the rules the service applies, in one place."""

from __future__ import annotations

from app.auth import UserRead
from app.posts.exceptions import NotPostAuthorError
from app.posts.models import Post


def ensure_can_change(user: UserRead, post: Post) -> None:
    """Its author or a superuser may edit or delete a post; anyone else gets 403."""
    if post.user_id != user.id and not user.is_superuser:
        raise NotPostAuthorError()
