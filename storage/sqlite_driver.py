"""aiosqlite with one trip to SQLite's thread per statement, and none at all for a citizen's turn.

aiosqlite runs every call of the sqlite3 API in its own thread: SQLAlchemy's adapter opens a cursor,
executes, fetches the rows and closes the cursor, four trips for a SELECT and three for an UPDATE.
Each trip queues a call, wakes the thread and wakes the event loop again, which costs far more than
SQLite's own work on a small row. Here `execute` runs the statement, reads every row and closes the
sqlite3 cursor in one trip; the cursor the adapter sees only hands out what was read. SQLAlchemy
reads every row of a result at once on SQLite anyway, so nothing is held longer than before.

Inside `inline()` (a citizen's turn, the Telegram inbox: point reads and single-row writes of a few
microseconds each) statements, commits and rollbacks run on the event loop's own thread, with no
trip at all. They never wait there: SQLite's busy timeout is 0 for them, and a statement that finds
the database locked by another process (a command-line import, a second bot process) is run again
in the thread, which waits up to the full timeout without holding up the loop. Automatic WAL
checkpoints are off on this connection (a checkpoint writes the database file and syncs it, which
must not happen on the loop); every CHECKPOINT_EVERY commits, a passive checkpoint runs in the
thread instead.

The connection is otherwise aiosqlite's own (commit, rollback, close, the thread), so SQLAlchemy's
`sqlite+aiosqlite` dialect drives it unchanged through `create_async_engine(async_creator=...)`. It
is used by one session at a time (a pool of one), so the loop and the thread never use the sqlite3
connection at once.

A reader connection (`reader=True`: staff pages, reports) is read-only (`PRAGMA query_only`), never
runs a statement on the loop (even inside `inline()`: a staff query can be long), and stops any
statement that runs past its time limit (`query_seconds`) with SQLite's "interrupted" error, checked
every PROGRESS_STEPS steps of SQLite's virtual machine.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
Outcome = tuple[Any, int, int | None, list[Row]]
Result = TypeVar("Result")

CHECKPOINT_EVERY = 500  # commits between two WAL checkpoints (in the thread)
PROGRESS_STEPS = 10_000  # SQLite VM steps between two looks at a reader's deadline (well under 1 ms)
_INLINE: ContextVar[bool] = ContextVar("sqlite_inline", default=False)


@contextlib.contextmanager
def inline() -> Iterator[None]:
    """Run this block's statements on the event loop's thread (short statements only)."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def _execute(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any] | dict[str, Any]) -> Outcome:
    """The statement's description, row count, last row id and rows."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _execute_many(connection: sqlite3.Connection, sql: str, parameters: Iterable[Any]) -> Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, parameters)
        return cursor.description, cursor.rowcount, cursor.lastrowid, []
    finally:
        cursor.close()


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


def _commit_and_checkpoint(connection: sqlite3.Connection) -> None:
    connection.commit()
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


def _locked(error: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY: another connection holds a lock this statement needs (nothing was done)."""
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(error)


class Cursor:
    """What the adapter calls a cursor: the outcome of the last statement run through it."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Row] = []

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        self.description, self.rowcount, self.lastrowid, self._rows = await self._connection.call(
            _execute, sql, parameters
        )
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        outcome = await self._connection.call(_execute_many, sql, list(parameters))
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def fetchone(self) -> Row | None:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Row]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class Connection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cost no trip of their own, and whose statements inside
    `inline()` cost none at all."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        busy_timeout_ms: int,
        *,
        reader: bool = False,
        query_seconds: float | None = None,
    ) -> None:
        super().__init__(lambda: self._opened(connector()), iter_chunk_size=64)
        self._busy_timeout_ms = busy_timeout_ms
        self._patient = True  # SQLite's busy timeout is the full one (not 0)
        self._commits = 0
        self.reader = reader
        self.default_query_seconds = query_seconds
        self.query_seconds = query_seconds  # this use's limit per statement (None: none); see storage.db
        self._deadline = math.inf

    def _opened(self, connection: sqlite3.Connection) -> sqlite3.Connection:
        """In SQLite's thread, once: a reader's connection becomes read-only and watches its deadline."""
        if self.reader:
            connection.execute("PRAGMA query_only = ON").close()
            connection.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
        return connection

    def _past_deadline(self) -> bool:
        """SQLite's progress handler: true stops the running statement ("interrupted")."""
        return time.monotonic() > self._deadline

    def cursor(self) -> Cursor:  # type: ignore[override]  # the adapter enters it with `async with`
        return Cursor(self)

    async def call(self, function: Callable[..., Result], *args: Any) -> Result:
        """`function(sqlite3_connection, *args)`: here when inline and nothing is locked, else in the
        thread (always in the thread for a reader)."""
        if _INLINE.get() and not self.reader:
            try:
                self._set_patience(False)
                return function(self._conn, *args)
            except sqlite3.OperationalError as error:
                if not _locked(error):
                    raise
                log.debug("SQLite is locked by another connection; waiting in the database thread")
        return await self._execute(self._patiently, function, *args)

    def _patiently(self, function: Callable[..., Result], *args: Any) -> Result:
        """In SQLite's thread: with the full busy timeout, so a lock held elsewhere is waited for, and
        (on a reader) the time limit counted from now."""
        self._set_patience(True)
        self._deadline = time.monotonic() + self.query_seconds if self.query_seconds else math.inf
        return function(self._conn, *args)

    def _set_patience(self, patient: bool) -> None:
        if patient != self._patient:
            self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms if patient else 0}").close()
            self._patient = patient

    async def commit(self) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and not self.reader:
            await self._execute(self._patiently, _commit_and_checkpoint)
        else:
            await self.call(_commit)

    async def rollback(self) -> None:
        await self.call(_rollback)


def connect(
    path: Path, *, timeout: float = 30.0, reader: bool = False, query_seconds: float | None = None
) -> Connection:
    """A connection to the SQLite file at `path` (await it to open), its thread a daemon like
    aiosqlite's own under SQLAlchemy, so a stuck statement never keeps the process alive. A reader
    is read-only and stops statements running longer than `query_seconds`."""

    def open_connection() -> sqlite3.Connection:
        connection = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False)
        connection.execute("PRAGMA wal_autocheckpoint = 0").close()  # checkpoints run in the thread
        return connection

    connection = Connection(
        open_connection, busy_timeout_ms=int(timeout * 1000), reader=reader, query_seconds=query_seconds
    )
    connection.daemon = True
    return connection
