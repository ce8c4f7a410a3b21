"""The Telegram inbox: an update is stored before Telegram is told it arrived (the next getUpdates
offset, or the webhook's answer), handled once, then marked done; what a stopped process left
unfinished is handled at the next start, in order per citizen.

The real python-telegram-bot `Application` runs inside the real aiohttp app against the fake Bot
API server; the database is real (SQLite, and PostgreSQL where a test takes `db_url`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import col, select

from bot.app import create_app
from handlers.engine import utc_now
from storage import telegram_inbox
from storage.db import create_engine, session_factory
from storage.models import TelegramInboxRow
from tests.conftest import telegram_settings

WEBHOOK_URL = "https://bot.example.invalid/webhook/telegram"
SECRET = "inbox-Secret_1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


def unknown_command_number(text: str | None) -> str:
    """"07" from the answer to the unknown command /lenh07."""
    return (text or "").split("lệnh /lenh")[1].split(".")[0]


async def rows(url: str) -> dict[int, TelegramInboxRow]:
    """The inbox as stored."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return {row.update_id: row for row in (await session.exec(select(TelegramInboxRow))).all()}
    finally:
        await engine.dispose()


async def test_every_update_is_in_the_inbox_before_the_offset_confirms_it(settings, tg, aiohttp_client) -> None:
    checks: list[tuple[int, list[int]]] = []
    original = tg._methods["getupdates"][1]
    engine = create_engine(settings.database_url)  # a connection of the test's own, apart from the bot's

    async def stored_below(offset: int) -> list[int]:
        async with engine.connect() as connection:
            found = await connection.execute(select(TelegramInboxRow.update_id).where(TelegramInboxRow.update_id < offset))
            return list(found.scalars())

    async def get_updates(params):  # type: ignore[no-untyped-def]
        offset = int(params.get("offset") or 0)
        if offset > 0:  # confirms every update below `offset`: each must be stored by now
            checks.append((offset, await stored_below(offset)))
        return await original(params)

    try:
        tg.set_method("getUpdates", get_updates)
        await aiohttp_client(create_app(telegram_settings(settings, tg)))
        sent = [tg.user_sends(user, f"/lenh{n:02d}")["update_id"] for n in range(4) for user in (601, 602, 603)]
        for user in (601, 602, 603):
            await tg.wait_for_messages(user, 4, timeout=20)
        for _ in range(100):  # until a later poll has confirmed them all
            if any(offset > max(sent) for offset, _ in checks):
                break
            await asyncio.sleep(0.1)
        confirmed = [(offset, stored) for offset, stored in checks if any(u < offset for u in sent)]
        assert confirmed, f"no getUpdates confirmed the updates: {checks}"
        for offset, stored in confirmed:
            missing = [u for u in sent if u < offset and u not in stored]
            assert not missing, f"getUpdates offset {offset} confirmed updates not in the inbox: {missing}"
    finally:
        tg.set_method("getUpdates", original)
        await engine.dispose()
    stored = await rows(settings.database_url)
    assert all(stored[u].done_at is not None and stored[u].payload is None for u in sent), (
        "handled updates are not all marked done with their content dropped"
    )


async def test_updates_left_unfinished_are_handled_at_start_in_order_per_citizen(
    settings, tg, aiohttp_client, db_url
) -> None:
    now = utc_now()
    updates = [tg.make_message_update(user, f"/lenh{n:02d}") for n in range(6) for user in (611, 612)]
    handled_before = tg.make_message_update(611, "/lenh99")
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            await session.exec(insert(TelegramInboxRow), params=[  # type: ignore[call-overload]
                {"update_id": u["update_id"], "payload": u, "received_at": now} for u in updates
            ] + [{"update_id": handled_before["update_id"], "payload": None, "received_at": now, "done_at": now}])
            await session.commit()
    finally:
        await engine.dispose()
    assert tg.pending_updates == 0, "the updates must reach the bot only through its inbox"

    await aiohttp_client(create_app(telegram_settings(settings.model_copy(update={"database_url": db_url}), tg)))
    for user in (611, 612):
        replies = await tg.wait_for_messages(user, 6, timeout=20)
        assert [unknown_command_number(s.text) for s in replies] == [f"{n:02d}" for n in range(6)]
    await asyncio.sleep(0.5)
    assert "99" not in [unknown_command_number(s.text) for s in tg.messages_to(611)], "an update marked done was handled again"
    assert len(tg.messages_to(611)) == 6
    stored = await rows(db_url)
    assert all(row.done_at is not None and row.payload is None for row in stored.values()), stored


async def test_an_update_delivered_again_after_a_restart_is_handled_once(settings, tg, aiohttp_client) -> None:
    first = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    update = tg.user_sends(621, "/lenh01")
    await tg.wait_for_messages(621, 1, timeout=10)
    await first.close()
    if tg.pending_updates == 0:  # confirmed by a later poll: Telegram sends it again anyway
        tg.push_update(update)

    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    tg.user_sends(621, "/lenh02")
    await tg.wait_for_messages(621, 2, timeout=10)
    await asyncio.sleep(0.3)
    assert [unknown_command_number(s.text) for s in tg.messages_to(621)] == ["01", "02"]


async def test_webhook_redeliveries_and_two_processes_handle_an_update_once(
    settings, tg, aiohttp_client, db_url
) -> None:
    webhook = telegram_settings(
        settings.model_copy(update={"database_url": db_url}), tg,
        telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET,
    )
    first = await aiohttp_client(create_app(webhook))
    second = await aiohttp_client(create_app(webhook))  # another process behind the same proxy

    update = tg.make_message_update(631, "/lenh01")
    assert (await first.post("/webhook/telegram", json=update, headers=HEADERS)).status == 200
    assert [unknown_command_number(s.text) for s in tg.messages_to(631)] == ["01"], "answered before handling"
    for client in (first, second, first):
        assert (await client.post("/webhook/telegram", json=update, headers=HEADERS)).status == 200

    both = tg.make_message_update(631, "/lenh02")  # the same update reaching both at once
    statuses = await asyncio.gather(*(c.post("/webhook/telegram", json=both, headers=HEADERS) for c in (first, second)))
    assert [s.status for s in statuses] == [200, 200]
    await asyncio.sleep(0.5)
    assert [unknown_command_number(s.text) for s in tg.messages_to(631)] == ["01", "02"]
    stored = await rows(db_url)
    assert sorted(stored) == [update["update_id"], both["update_id"]]
    assert all(row.done_at is not None for row in stored.values())


async def test_a_row_is_taken_again_only_when_its_lease_has_ended_and_old_ids_are_pruned(db_sessions) -> None:
    now = utc_now()
    async with db_sessions() as session:
        assert await telegram_inbox.take(session, [(1, {"update_id": 1}), (2, {"update_id": 2})], now) == [1, 2]
        await session.commit()
    async with db_sessions() as session:  # another process, while the first one holds them
        assert await telegram_inbox.take(session, [(2, {"update_id": 2}), (3, {"update_id": 3})], now) == [3]
        assert await telegram_inbox.unfinished(session, now, starting=False) == []
        await telegram_inbox.mark_done(session, [1], now)
        await session.commit()
    later = now + telegram_inbox.LEASE + timedelta(seconds=1)  # the holder of 2 and 3 died
    async with db_sessions() as session:
        assert [row.update_id for row in await telegram_inbox.unfinished(session, later, starting=False)] == [2, 3]
        await session.commit()
    async with db_sessions() as session:
        assert await telegram_inbox.take(session, [(1, {"update_id": 1}), (2, {"update_id": 2})], later) == []
        assert await telegram_inbox.unfinished(session, later, starting=False, busy={2, 3}) == []
        await telegram_inbox.mark_done(session, [2, 3], later)
        await session.commit()
    async with db_sessions() as session:
        done = (await session.exec(select(TelegramInboxRow).order_by(col(TelegramInboxRow.update_id)))).all()
        assert [(r.update_id, r.payload, r.done_at is not None) for r in done] == [(1, None, True), (2, None, True), (3, None, True)]
        assert await telegram_inbox.prune(session, now + telegram_inbox.KEEP_DONE + timedelta(seconds=0.5)) == 1
        await session.commit()
    async with db_sessions() as session:
        left = sorted(r.update_id for r in (await session.exec(select(TelegramInboxRow))).all())
        assert left == [2, 3], left


async def test_concurrent_webhook_updates_are_stored_together_and_each_handled_once(settings, tg, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(telegram_settings(
        settings, tg, telegram_webhook_url=WEBHOOK_URL, telegram_webhook_secret=SECRET)))
    updates = [tg.make_message_update(8000 + i, "/menu") for i in range(30)]
    twice = updates[:10] + [update for update in updates[10:] for _ in (1, 2)]  # the same update twice, at once
    statuses = [r.status for r in await asyncio.gather(*(client.post("/webhook/telegram", json=u, headers=HEADERS) for u in twice))]
    assert statuses == [200] * len(twice)
    await asyncio.sleep(0.5)
    per_chat = Counter(str(s.chat_id) for s in tg.sent if s.method == "sendMessage")
    assert {chat: n for chat, n in per_chat.items() if chat.startswith("80")} == {str(8000 + i): 1 for i in range(30)}
