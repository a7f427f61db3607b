"""Engine, session factory, declarative base, mixins and the unit of work."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import DateTime, MetaData, Select, delete, event, func, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.core.config import Settings

logger = structlog.get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The one declarative base; its metadata names constraints stably for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC (what every timestamp of the kit is)."""
    return dt.datetime.now(dt.UTC)


async def delete_older_than(
    session_factory: Callable[[], AsyncSession],
    timestamp: InstrumentedAttribute[dt.datetime | None],
    age: dt.timedelta,
) -> int:
    """Delete, in a transaction of their own, the rows whose `timestamp` is more than `age`
    ago (rows without one stay); how many went. The clean-up of the outbox, the event
    deliveries and the record of mails delivered."""
    async with session_factory() as session, session.begin():
        result = await session.execute(delete(timestamp.class_).where(timestamp < utc_now() - age))
    return int(getattr(result, "rowcount", 0) or 0)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        return dt.datetime

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware UTC value")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class TimestampMixin:
    """`created_at` and `updated_at`, both set by the database."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now()
    )


class SoftDeleteMixin:
    """Rows are marked deleted, never removed; repositories hide them by default."""

    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def only_live(model: type[Any], stmt: SelectT) -> SelectT:
    """`stmt` without the model's soft-deleted rows (as is for a model without soft delete)."""
    if issubclass(model, SoftDeleteMixin):
        return stmt.where(model.deleted_at.is_(None))
    return stmt


def _sqlite_pragmas(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine with pool options that fit the dialect."""
    url = make_url(settings.database_url)
    # hide_parameters: a logged database error never carries the bound values (user input).
    options: dict[str, Any] = {
        "echo": False,
        "pool_pre_ping": settings.database_pool_pre_ping,
        "hide_parameters": True,
    }
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    options |= {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout,
    }
    if url.get_backend_name() != "postgresql":
        return create_async_engine(url, **options)
    connect_args = {"connect_timeout": settings.database_connect_timeout}
    return create_async_engine(url, connect_args=connect_args, **options)


def create_session_factory(bind: AsyncEngine | Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


# What a hook returns is ignored.
AfterCommitHook = Callable[[], Awaitable[object]]


class UnitOfWork:
    """One transaction per request, with hooks that run only after it committed.

    Repositories `add` and `flush`; nothing but the unit of work commits.
    Side effects that must not outlive a rollback (events, cache invalidation,
    sending queued tasks) register an after-commit hook.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[AfterCommitHook] = []

    def after_commit(self, hook: AfterCommitHook) -> None:
        self._after_commit.append(hook)

    @property
    def _has_work(self) -> bool:
        """Whether the session began a transaction or holds changes not yet flushed."""
        session = self.session
        return session.in_transaction() or bool(session.new or session.dirty or session.deleted)

    async def commit(self) -> None:
        # A unit of work nobody used (a cache hit) skips the ORM's commit bookkeeping, which
        # costs more than the rest of such a request's database handling.
        if self._has_work:
            await self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            try:
                await hook()
            except Exception:
                logger.exception(
                    "after-commit hook failed", hook=getattr(hook, "__qualname__", repr(hook))
                )

    async def rollback(self) -> None:
        self._after_commit.clear()
        try:
            await self.session.rollback()
        except Exception:  # the connection may be what failed; the error that led here matters more
            logger.warning("rollback failed", exc_info=True)

    async def close(self) -> None:
        """Give back what the session still holds after a failed commit or rollback,
        shielded so that a cancelled request or task still returns its connection to the
        pool. A session that committed, rolled back or was never used holds nothing."""
        if self._has_work:
            await asyncio.shield(self.session.close())


class Database:
    """The session factory of one process, and the units of work opened on it.

    Built from the settings (`from_settings`, which owns and later disposes its engine),
    or around a session factory that the caller owns (tests bind one to a transaction).
    """

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine | None = None
    ) -> None:
        self.session_factory = session_factory
        self._owned_engine = engine

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        return cls(create_session_factory(engine), engine)

    @property
    def engine(self) -> AsyncEngine | None:
        """The engine this object owns (none when the caller owns the sessions' bind)."""
        return self._owned_engine

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction (a request's, a task's, a listener's): commit, or roll back on error."""
        uow = UnitOfWork(self.session_factory())
        try:
            try:
                yield uow
            except BaseException:
                await uow.rollback()
                raise
            await uow.commit()
        finally:
            await uow.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for the read side (queries, the check of a request's caller):
        no unit of work, no ORM session, no transaction.

        On PostgreSQL: a pooled connection switched to autocommit for as long as it is
        lent (psycopg's flag only: no statement; the pool puts the engine's isolation
        back when it returns), so each query is one round trip and nothing sends BEGIN or
        COMMIT. On SQLite: a pooled connection as it is (its driver begins a transaction
        only before a write, and switching would cost two hops to aiosqlite's thread, and
        commit the open transaction of a shared `:memory:` connection). On a caller's
        connection (tests bind one to a transaction): that connection.
        """
        bind = self.session_factory.kw["bind"]
        if isinstance(bind, AsyncConnection):
            yield bind
            return
        async with bind.connect() as connection:
            if connection.dialect.name == "sqlite":
                yield connection
            else:
                yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self) -> None:
        """One round trip; raises when the database does not answer."""
        async with self.reading() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._owned_engine is not None:
            await self._owned_engine.dispose()
