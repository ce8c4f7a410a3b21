"""The SQLite driver under SQLAlchemy: one trip to SQLite's thread per statement, none inside
`inline()` (where a lock held elsewhere is waited for in the thread, not on the event loop),
checkpoints in the thread, and the same results, row counts, ids and errors as plain aiosqlite."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import sqlite_driver
from storage.db import create_engine
from tests.waiting import LoopTicks

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The functions run in SQLite's thread, by name."""
    made: list[str] = []
    original = sqlite_driver.Connection._execute

    async def counted(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        function = args[0] if getattr(fn, "__name__", "") == "_patiently" else fn
        made.append(getattr(function, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.Connection, "_execute", counted)
    return made


async def test_each_statement_is_one_trip_to_the_sqlite_thread_and_none_inline(engine, trips) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
        rows = (await connection.execute(text("SELECT name, n FROM item"))).all()
    assert rows == [("a", 1)]
    assert trips == ["_execute", "_execute", "_commit"]  # aiosqlite itself: cursor, execute, (fetch,) close each
    trips.clear()
    with sqlite_driver.inline():
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE item SET n = 2"))
            assert (await connection.execute(text("SELECT n FROM item"))).scalar_one() == 2
    assert trips == []
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT n FROM item"))).scalar_one() == 2


async def test_an_inline_write_that_finds_the_database_locked_waits_in_the_thread_not_on_the_loop(engine, tmp_path, trips) -> None:
    async with engine.connect() as connection:  # opened, so the pragmas are set
        await connection.execute(text("SELECT 1"))
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    loop = asyncio.get_running_loop()
    loop.call_later(0.5, other.rollback)
    started = time.monotonic()
    async with LoopTicks() as ticks:
        with sqlite_driver.inline():
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO item (name, n) VALUES ('b', 1)"))
    waited = time.monotonic() - started
    other.close()
    assert 0.4 < waited < 5 and ticks.count >= 20, (waited, ticks.count)  # the loop went on while the insert waited
    assert trips[0] == "_execute"
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM item WHERE name = 'b'"))).scalar_one() == 1


async def test_checkpoints_run_in_the_thread_every_so_many_commits(engine, trips, monkeypatch) -> None:
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_EVERY", 3)
    with sqlite_driver.inline():
        for number in range(7):
            async with engine.begin() as connection:
                await connection.execute(text(f"INSERT INTO item (name, n) VALUES ('c{number}', {number})"))
    assert trips.count("_commit_and_checkpoint") == 2 and len(trips) == 2  # everything else ran inline
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0


async def test_rows_counts_ids_and_many_rows_come_back_as_with_aiosqlite(engine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
        assert inserted.lastrowid == 1
        await connection.execute(text("INSERT INTO item (name, n) VALUES (:name, :n)"),
                                 [{"name": f"x{i}", "n": i} for i in range(500)])
        updated = await connection.execute(text("UPDATE item SET n = n + 1 WHERE n < 10"))
        assert updated.rowcount == 11
        result = await connection.execute(text("SELECT count(*), sum(n) FROM item"))
        assert result.one() == (501, sum(range(500)) + 1 + 11)
        streamed = await connection.stream(text("SELECT name FROM item ORDER BY id"))
        names = [row[0] async for row in streamed]
        assert names[:2] == ["a", "x0"] and len(names) == 501
        empty = await connection.execute(text("SELECT name FROM item WHERE n < 0"))
        assert empty.all() == []


async def test_errors_reach_the_caller_as_sqlalchemy_errors_and_the_connection_goes_on(engine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 2)"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT name, n FROM item"))).all() == [("a", 1)]
