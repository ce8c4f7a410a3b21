"""The database unavailable for a while: the app reaches PostgreSQL through a TCP proxy on loopback
that the test cuts (open connections dropped, new ones refused) and restores.

During the outage the process keeps running and says why it cannot work (logged errors, /healthz
503, the Telegram webhook 503 so that Telegram delivers the update again); a Telegram message that
arrives meanwhile is not confirmed to Telegram, and is answered once the database is back; the
outbox drains after. On SQLite, a write lock held by another process for a while only delays the
answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.app import create_app
from handlers.engine import utc_now
from storage import outbox
from storage.db import create_engine, session_factory
from storage.models import OutboxMessage, TelegramInboxRow
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver
from tests.waiting import until

WEBHOOK_URL = "https://bot.example.invalid/webhook/telegram"
SECRET = "db-outage-Secret_1"
NOTICE = "Thông báo: xã tổ chức tập huấn trồng cà phê vào sáng thứ Năm."


class CuttableProxy:
    """Forwards TCP connections from a loopback port to `target`; `cut()` drops every connection and
    refuses new ones until `restore()`, like a database server that went away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def restore(self) -> None:
        await self.start()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(writer)
            writer.transport.abort()


@pytest.fixture
async def proxied_url(postgres_url: str) -> AsyncIterator[tuple[str, CuttableProxy]]:
    """A PostgreSQL database reached through a proxy the test can cut."""
    url = make_url(postgres_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        await proxy.cut()


async def queue_notice(url: str, chat_id: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            await outbox.enqueue(session, channel="telegram", chat_id=chat_id, payload={"text": NOTICE},
                                 now=utc_now(), priority=outbox.PRIORITY_REPLY)
            await session.commit()
    finally:
        await engine.dispose()


async def outbox_status(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return [(m.chat_id, m.status) for m in (await session.exec(select(OutboxMessage))).all()]
    finally:
        await engine.dispose()


def answered(tg, user: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.text or "" for s in tg.messages_to(user)]


async def test_polling_bot_waits_out_a_database_outage_and_loses_nothing(
    settings, tg, aiohttp_client, proxied_url, postgres_url, caplog
) -> None:
    url, proxy = proxied_url
    client = await aiohttp_client(create_app(telegram_settings(settings.model_copy(update={"database_url": url}), tg)))
    await TelegramDriver(tg, user_id=801).send("/lenh00")

    await proxy.cut()
    caplog.clear()
    tg.user_sends(801, "/lenh01")
    await queue_notice(postgres_url, "802")  # queued by another process that still reaches the database
    await until(lambda: "database unavailable" in caplog.text, "the outage to be logged")
    health = await client.get("/healthz")
    assert health.status == 503 and (await health.json())["database"] == "unavailable"
    await asyncio.sleep(1.5)  # the poller retries meanwhile; nothing may be confirmed
    assert tg.pending_updates == 1, "a message that could not be stored was confirmed to Telegram"
    assert len(answered(tg, 801)) == 1 and answered(tg, 802) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "database unavailable" in r.getMessage()]
    assert errors, f"no clear error logged: {[r.getMessage() for r in caplog.records][-10:]}"
    sender = [r for r in caplog.records if r.name == "bot.sender" and r.levelno >= logging.ERROR]
    assert sender and all("database unavailable" in r.getMessage() and not r.exc_info for r in sender), (
        f"the outbox sender did not say in one line why it waits: {[r.getMessage() for r in sender]}"
    )

    await proxy.restore()
    await tg.wait_for_messages(801, 2, timeout=45)
    await tg.wait_for_messages(802, 1, timeout=45)
    await asyncio.sleep(0.5)
    assert ["lệnh /lenh00" in answered(tg, 801)[0], "lệnh /lenh01" in answered(tg, 801)[1]] == [True, True]
    assert len(answered(tg, 801)) == 2 and answered(tg, 802) == [NOTICE]
    for _ in range(100):  # the sender records "sent" just after the server has the message
        if (sent := await outbox_status(postgres_url)) == [("802", "sent")]:
            break
        await asyncio.sleep(0.1)
    assert sent == [("802", "sent")]
    assert (await client.get("/healthz")).status == 200


async def test_webhook_answers_503_while_the_database_is_away_and_handles_the_redelivery(
    settings, tg, aiohttp_client, proxied_url, postgres_url
) -> None:
    url, proxy = proxied_url
    webhook = telegram_settings(
        settings.model_copy(update={"database_url": url}), tg,
        telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET,
    )
    client = await aiohttp_client(create_app(webhook))
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update = tg.make_message_update(811, "/lenh01")

    await proxy.cut()
    for _ in range(2):  # Telegram tries again and again while the answer is an error
        assert (await client.post("/webhook/telegram", json=update, headers=headers)).status == 503
    assert tg.messages_to(811) == []

    await proxy.restore()
    assert (await client.post("/webhook/telegram", json=update, headers=headers)).status == 200
    assert (await client.post("/webhook/telegram", json=update, headers=headers)).status == 200
    await asyncio.sleep(0.3)
    replies = answered(tg, 811)
    assert len(replies) == 1 and "lệnh /lenh01" in replies[0], replies
    engine = create_engine(postgres_url)
    try:
        async with session_factory(engine)() as session:
            row = await session.get(TelegramInboxRow, update["update_id"])
            assert row is not None and row.done_at is not None
    finally:
        await engine.dispose()


@pytest.mark.sqlite_only
async def test_a_sqlite_write_lock_held_elsewhere_only_delays_the_answer(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await TelegramDriver(tg, user_id=821).send("/lenh00")
    locker = sqlite3.connect(settings.database_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process writing for a while (a backup, a long import)
        tg.user_sends(821, "/lenh01")
        await asyncio.sleep(1.5)
        assert len(answered(tg, 821)) == 1, "answered while the database was locked"
    finally:
        with contextlib.suppress(sqlite3.Error):
            locker.execute("ROLLBACK")
        locker.close()
    await tg.wait_for_messages(821, 2, timeout=30)
    await asyncio.sleep(0.5)
    replies = answered(tg, 821)
    assert len(replies) == 2 and "lệnh /lenh01" in replies[1], replies
