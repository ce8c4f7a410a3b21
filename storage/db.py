"""Async engines and sessions. SQLite runs in WAL mode with foreign keys on.

A process has two engines: the main one (citizens' turns, the scheduler, the outbox, every write)
and a staff one for what staff pages, public figures and reports read, so that a slow staff query
never holds a connection a citizen's turn waits for. Staff connections are read-only on SQLite
(WAL lets them read while the main connection writes) and stop a statement that runs past its
time limit on both databases (`timed_out` recognises the error).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import SessionTransaction
from sqlalchemy.pool import PoolResetState
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver
from storage.files import private_sqlite

SessionFactory = async_sessionmaker[AsyncSession]
POOL_SIZE = 10  # PostgreSQL connections of the main engine (one per process)
STAFF_POOL_SIZE = 2  # staff connections per process, on both databases (more staff pages wait for one)
STAFF_POOL_TIMEOUT = 30  # seconds a staff page waits for a free staff connection
QUERY_SECONDS = "query_seconds"  # `Session.info` key: a staff session's own time limit per statement
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other engines and in-memory databases."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; for SQLite, create the folder and set the pragmas on connect."""
    path = sqlite_path(database_url)
    if path is not None:
        private_sqlite(path)  # 0600 in a 0700 folder, -wal and -shm too (storage/files.py)
        # One connection: SQLite has a single writer anyway, and queueing for the connection in
        # order keeps the slowest replies far shorter than many connections fighting for the lock.
        engine = create_async_engine(
            database_url,
            echo=echo,
            async_creator=lambda: sqlite_driver.connect(path, timeout=30),
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
            pool_reset_on_return=None,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
        return engine
    # A database that stops answering (a firewall dropping packets) fails a request after 10 s
    # instead of asyncpg's default minute.
    connect_args = {"timeout": 10} if make_url(database_url).drivername == "postgresql+asyncpg" else {}
    # A fixed set of connections: turns beyond it wait for one (a few milliseconds) instead of
    # opening and closing a connection each, which costs more than the turn.
    engine = create_async_engine(
        database_url,
        echo=echo,
        connect_args=connect_args,
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=30,
    )
    event.listen(engine.sync_engine, "checkout", _closed_is_disconnected)
    return engine


def create_staff_engine(database_url: str, *, query_seconds: float, echo: bool = False) -> AsyncEngine:
    """The engine for staff reads: STAFF_POOL_SIZE connections of its own, each statement stopped
    after `query_seconds` (a session may ask for another limit, see `staff_session_factory`).
    On SQLite the connections are read-only and run every statement in SQLite's thread, never on
    the event loop; on PostgreSQL the limit is the server's `statement_timeout`."""
    path = sqlite_path(database_url)
    if path is not None:
        private_sqlite(path)
        engine = create_async_engine(
            database_url,
            echo=echo,
            pool_size=STAFF_POOL_SIZE,
            max_overflow=0,
            pool_timeout=STAFF_POOL_TIMEOUT,
            async_creator=lambda: sqlite_driver.connect(path, timeout=30, reader=True, query_seconds=query_seconds),
            pool_reset_on_return=None,
        )
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
        return engine
    connect_args: dict[str, Any] = {}
    if make_url(database_url).drivername == "postgresql+asyncpg":
        connect_args = {"timeout": 10, "server_settings": {"statement_timeout": str(_milliseconds(query_seconds))}}
    engine = create_async_engine(
        database_url,
        echo=echo,
        connect_args=connect_args,
        pool_size=STAFF_POOL_SIZE,
        max_overflow=0,
        pool_timeout=STAFF_POOL_TIMEOUT,
    )
    event.listen(engine.sync_engine, "checkout", _closed_is_disconnected)
    return engine


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class _LimitedSession(Session):
    """A session whose transactions take the time limit in `info[QUERY_SECONDS]`, if any."""


@event.listens_for(_LimitedSession, "after_begin")
def _apply_query_limit(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    """Give the connection this session's time limit: a reader SQLite connection's own (its default
    when the session has none), or PostgreSQL's statement_timeout for this transaction only."""
    seconds = session.info.get(QUERY_SECONDS)
    driver = connection.connection.driver_connection
    if isinstance(driver, sqlite_driver.Connection):
        driver.query_seconds = seconds or driver.default_query_seconds
    elif seconds and connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT set_config('statement_timeout', :limit, true)"), {"limit": str(_milliseconds(seconds))}
        )


def staff_session_factory(engine: AsyncEngine, query_seconds: float | None = None) -> SessionFactory:
    """Sessions on the staff engine; `query_seconds` replaces the engine's time limit per statement
    for each of their transactions (a background report may take longer than a page)."""
    info = {QUERY_SECONDS: query_seconds} if query_seconds else {}
    return async_sessionmaker(
        engine,
        class_=AsyncSession,
        sync_session_class=_LimitedSession,
        expire_on_commit=False,
        info=info,
    )


def timed_out(error: BaseException) -> bool:
    """Whether a database error is a statement stopped by its time limit, or no staff connection
    came free in time: the query was too heavy, not wrong."""
    if isinstance(error, PoolTimeout):
        return True
    original = getattr(error, "orig", None)
    if isinstance(original, sqlite3.OperationalError):
        return getattr(original, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT or str(original) == "interrupted"
    return getattr(original, "sqlstate", None) == QUERY_CANCELED


def _closed_is_disconnected(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server closed (restart, failover, a cut link) is replaced before use.
    The check reads the driver's own state, without the round trips of SQLAlchemy's pre-ping (three
    on asyncpg: begin, select, rollback) on every checkout."""
    is_closed = getattr(getattr(dbapi_connection, "driver_connection", None), "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("connection closed by the server")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, foreign keys for integrity. (Writers wait for a lock up to the
    connection's timeout, 30 s; `sqlite_driver` manages that timeout itself.)"""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
    """Roll back a connection coming back to the pool only if a transaction is still open. After a
    commit, the usual rollback would be one more round trip to SQLite's thread for nothing, and
    every turn of the bot would pay it."""
    driver = getattr(record, "driver_connection", None)
    if state.asyncio_safe and (driver is None or driver.in_transaction):
        dbapi_connection.rollback()


def session_factory(engine: AsyncEngine, info: dict[str, Any] | None = None) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit; `info` is what each session carries
    in `Session.info` (this process's lease holder number, see storage.holders)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=info)


@asynccontextmanager
async def opened(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on an engine of their own for one command-line command, disposed when the block
    ends however it ends."""
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
