"""aiosqlite with one trip to SQLite's thread per statement.

aiosqlite runs every call of the sqlite3 API in its own thread: SQLAlchemy's adapter opens a cursor,
executes, fetches the rows and closes the cursor, four trips for a SELECT and three for an UPDATE.
Each trip queues a call, wakes the thread and wakes the event loop again, which costs far more than
SQLite's own work on a small row. Here `execute` runs the statement, reads every row and closes the
sqlite3 cursor in one trip; the cursor the adapter sees only hands out what was read. SQLAlchemy
reads every row of a result at once on SQLite anyway, so nothing is held longer than before.

The connection is otherwise aiosqlite's own (commit, rollback, close, the thread), so SQLAlchemy's
`sqlite+aiosqlite` dialect drives it unchanged through `create_async_engine(async_creator=...)`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

Row = tuple[Any, ...]
Outcome = tuple[Any, int, int | None, list[Row]]


def _execute(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any] | dict[str, Any]) -> Outcome:
    """In SQLite's thread: the statement's description, row count, last row id and rows."""
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
        outcome = await self._connection._execute(_execute, self._connection._conn, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        outcome = await self._connection._execute(_execute_many, self._connection._conn, sql, list(parameters))
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
    """An aiosqlite connection whose cursors cost no trip of their own."""

    def cursor(self) -> Cursor:  # type: ignore[override]  # the adapter enters it with `async with`
        return Cursor(self)


def connect(path: Path, **kwargs: Any) -> Connection:
    """A connection to the SQLite file at `path` (await it to open), its thread a daemon like
    aiosqlite's own under SQLAlchemy, so a stuck statement never keeps the process alive."""
    connection = Connection(lambda: sqlite3.connect(str(path), **kwargs), iter_chunk_size=64)
    connection.daemon = True
    return connection
