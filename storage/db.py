"""Async engine and sessions. SQLite runs in WAL mode with foreign keys on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import PoolResetState
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver
from storage.files import private_sqlite

SessionFactory = async_sessionmaker[AsyncSession]
POOL_SIZE = 10  # PostgreSQL connections per engine (a process has one); N processes need N x 10


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
            database_url, echo=echo, async_creator=lambda: sqlite_driver.connect(path, timeout=30),
            pool_size=1, max_overflow=0, pool_timeout=120, pool_reset_on_return=None,
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
        database_url, echo=echo, connect_args=connect_args, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=30,
    )
    event.listen(engine.sync_engine, "checkout", _closed_is_disconnected)
    return engine


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
