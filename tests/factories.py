"""factory-boy factories. factory-boy knows no async SQLAlchemy: `build()`, then add and flush
(`create_user` does both)."""

from __future__ import annotations

import random  # demo: movies
from decimal import Decimal  # demo: movies
from typing import Any

import factory
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User, UserStatus
from app.movies.models import Movie  # demo: movies
from app.posts.models import Post  # demo: posts
from tests.conftest import load_test_settings

DEFAULT_PASSWORD = "correct-horse-battery"


def hash_password(password: str) -> str:
    """A hash with the suite's cheap argon2 parameters (synchronous: factories are)."""
    settings = load_test_settings()
    hasher = Argon2Hasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    return PasswordHash((hasher,)).hash(password)


class UserFactory(factory.Factory):  # type: ignore[misc]  # untyped library base
    class Meta:
        model = User

    class Params:
        password = DEFAULT_PASSWORD

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password_hash = factory.LazyAttribute(lambda user: hash_password(user.password))
    status = UserStatus.ACTIVE
    is_superuser = False


async def create_user(session: AsyncSession, **fields: Any) -> User:
    """Build a user, add it and flush (it gets its id and timestamps)."""
    user: User = UserFactory.build(**fields)
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


# demo: movies
class MovieFactory(factory.Factory):  # type: ignore[misc]  # untyped library base
    class Meta:
        model = Movie

    # Far from the bundled films' ids (1..413) and from generated ones (1,000,001 on).
    movie_id = factory.Sequence(lambda n: 500_000 + n)
    title = factory.Faker("catch_phrase")
    released = factory.Faker("random_int", min=1920, max=2025)
    rating = factory.LazyFunction(lambda: Decimal(random.randint(0, 89)) / 10)


# end demo: movies


# demo: posts
class PostFactory(factory.Factory):  # type: ignore[misc]  # untyped library base
    """Needs `user_id`: posts name their author by id only (no foreign key)."""

    class Meta:
        model = Post

    title = factory.Faker("sentence", nb_words=4)
    content = factory.Faker("paragraph")


# end demo: posts


# demo: movies
async def create_movie(session: AsyncSession, **fields: Any) -> Movie:
    movie: Movie = MovieFactory.build(**fields)
    session.add(movie)
    await session.flush()
    return movie


# end demo: movies


# demo: posts
async def create_post(session: AsyncSession, user_id: int, **fields: Any) -> Post:
    post: Post = PostFactory.build(user_id=user_id, **fields)
    session.add(post)
    await session.flush()
    return post


# end demo: posts
