"""The SQLite driver under SQLAlchemy: one trip to SQLite's thread per statement, and the same
results, row counts, ids and errors as plain aiosqlite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import sqlite_driver
from storage.db import create_engine

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)"))
    yield engine
    await engine.dispose()


async def test_each_statement_is_one_trip_to_the_sqlite_thread(engine, monkeypatch) -> None:
    trips: list[str] = []
    original = sqlite_driver.Connection._execute

    async def counted(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.Connection, "_execute", counted)
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
        rows = (await connection.execute(text("SELECT name, n FROM item"))).all()
    assert rows == [("a", 1)]
    assert trips == ["_execute", "_execute", "commit"]  # aiosqlite itself: cursor, execute, (fetch,) close each


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
