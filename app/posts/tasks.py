"""Background tasks of the posts module (taskiq; dependencies come through `TaskiqDepends`)."""

from __future__ import annotations

from app.core.queue import TaskUnitOfWorkDep, task
from app.posts.service import hide_posts_of_user


@task()
async def hide_posts_of_deleted_user(user_id: int, uow: TaskUnitOfWorkDep) -> None:
    """The queued retry of the `UserDeleted` listener; safe to run more than once."""
    await hide_posts_of_user(uow, user_id)
