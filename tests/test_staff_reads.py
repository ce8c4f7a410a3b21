"""Citizens first: staff reads go through connections of their own, read-only on SQLite, and a
statement there that runs past its time limit is stopped; the page says so (503) instead of waiting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot import keys
from bot.app import create_app
from bot.config import Settings
from storage import sqlite_driver
from storage.db import SessionFactory, create_staff_engine, staff_session_factory, timed_out
from storage.models import StaffRole
from tests.dashboard import add_staff, sign_in
from tests.drivers import WebChatDriver
from tests.waiting import LoopTicks

# Counts to a billion: far longer than any limit below, so the limit is what ends it.
ENDLESS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n"
AUDIT_ROWS = 300_000
FILL_AUDIT = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
    "INSERT INTO audit_log (at, actor, action, object_type, object_id, detail) "
    "SELECT :at, 'someone', 'ticket.note', 'ticket', 'T' || i, '{}' FROM n"
)


async def run(session, sql: str, parameters: dict | None = None):  # type: ignore[no-untyped-def]
    """Run raw SQL on the session's connection (inside its transaction)."""
    return await (await session.connection()).execute(text(sql), parameters or {})


def with_limits(settings: Settings, **limits: float) -> Settings:
    """The test's settings with other time limits."""
    return settings.model_copy(update=limits)


@pytest.mark.sqlite_only
async def test_a_chat_turn_is_answered_while_a_slow_staff_query_runs(settings, aiohttp_client) -> None:
    """On SQLite the bot's own connection is one: a staff query holding it would hold every turn."""
    app = create_app(with_limits(settings, staff_query_seconds=3))
    client = await aiohttp_client(app)
    await (await client.get("/chat")).release()
    citizen = WebChatDriver(client)
    await citizen.send("xin chào")
    started = asyncio.Event()

    async def staff_query() -> None:
        async with app[keys.STAFF_SESSIONS]() as session:
            started.set()
            await session.scalar(text(ENDLESS))

    slow = asyncio.create_task(staff_query())
    await started.wait()
    await asyncio.sleep(0.2)  # the statement is running in SQLite's thread
    begun = time.monotonic()
    replies = await citizen.send("chuẩn nghèo là gì")
    took = time.monotonic() - begun
    assert replies and not slow.done()
    assert took < 0.5, f"the turn waited {took:.2f} s for the staff query"
    with pytest.raises(DBAPIError) as stopped:
        await slow
    assert timed_out(stopped.value)


@pytest.mark.sqlite_only
async def test_a_staff_statement_never_runs_on_the_event_loop(settings) -> None:
    """Even inside `inline()` (a citizen's turn), a reader's statement runs in SQLite's thread."""
    engine = create_staff_engine(settings.database_url, query_seconds=0.5)
    try:
        async with LoopTicks() as ticks:
            with sqlite_driver.inline():
                async with staff_session_factory(engine)() as session:
                    with pytest.raises(DBAPIError) as stopped:
                        await session.scalar(text(ENDLESS))
    finally:
        await engine.dispose()
    assert timed_out(stopped.value)
    assert ticks.count >= 10  # the loop went on for the half second the statement ran


@pytest.mark.sqlite_only
async def test_staff_connections_on_sqlite_cannot_write(settings, sessions: SessionFactory) -> None:
    engine = create_staff_engine(settings.database_url, query_seconds=5)
    try:
        async with staff_session_factory(engine)() as session:
            assert await session.scalar(text("PRAGMA query_only")) == 1
            with pytest.raises(DBAPIError, match="readonly"):
                await run(session, "UPDATE staff SET display_name = 'x'")
            with pytest.raises(DBAPIError, match="readonly"):
                await run(session, "DELETE FROM audit_log")
    finally:
        await engine.dispose()


async def test_a_statement_past_the_limit_is_stopped_and_a_longer_limit_can_be_asked_for(settings) -> None:
    """The staff limit stops a statement; the report factory's longer limit lets it run past it,
    and the next session has the staff limit again."""
    engine = create_staff_engine(settings.database_url, query_seconds=0.3)
    staff, report = staff_session_factory(engine), staff_session_factory(engine, 1.2)
    try:
        for factory, limit in ((staff, 0.3), (report, 1.2), (staff, 0.3)):
            async with factory() as session:
                begun = time.monotonic()
                with pytest.raises(DBAPIError) as stopped:
                    await session.scalar(text(ENDLESS))
                took = time.monotonic() - begun
            assert timed_out(stopped.value)
            assert limit <= took + 0.05 < limit + 1.5, (limit, took)
    finally:
        await engine.dispose()


async def test_a_page_whose_reading_takes_too_long_says_so(settings, aiohttp_client, sessions: SessionFactory, caplog) -> None:
    """The audit log filtered on a name nobody has reads every row: past the limit, 503 and the reason."""
    async with sessions() as session:
        await run(session, FILL_AUDIT, {"count": AUDIT_ROWS, "at": datetime(2026, 1, 1, tzinfo=UTC)})
        await session.commit()
    await add_staff(sessions, "boss", StaffRole.admin)
    client = await aiohttp_client(create_app(with_limits(settings, staff_query_seconds=0.002)))
    admin = await sign_in(client, "boss")
    response = await admin.get("/admin/audit?actor=nobody&lang=en")
    page = await response.text()
    assert response.status == 503, page
    assert "took too long" in page and "shorter period" in page
    assert 'href="/admin"' in page  # in the dashboard's layout, with its menu
    assert any("took too long" in record.getMessage() for record in caplog.records)
    vietnamese = await admin.get("/admin/audit?actor=nobody&lang=vi")
    assert vietnamese.status == 503
    assert "khoảng thời gian ngắn hơn" in await vietnamese.text()
    async with sessions() as session:  # the page wrote nothing
        assert await session.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'audit.view'")) == 0
    fine = await aiohttp_client(create_app(settings))
    admin = await sign_in(fine, "boss")
    assert (await admin.get("/admin/audit?actor=nobody")).status == 200
