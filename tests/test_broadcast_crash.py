"""Crash safety of notices: the real bot (`python -m bot run`) is killed with SIGKILL in the middle of
a broadcast to 2,000 citizens, then started again.

After the restart every recipient has the notice, and only the messages that were in flight at the
kill — delivered to Telegram but not yet recorded as sent — go out a second time: at most the
sender's concurrency bound (`bot.sender.PARALLEL`), nobody three times. The outbox ends with one
`sent` row per recipient.

The bot runs as in `tests/test_crash.py` (its fixtures and helpers are reused), on SQLite or, under
`make test-postgres`, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from sqlalchemy import insert

from bot.sender import PARALLEL
from handlers.engine import utc_now
from storage import tally
from storage.broadcasts import create_broadcast
from storage.db import create_engine, session_factory
from storage.models import Citizen
from tests.fakes.telegram import FakeTelegram
from tests.test_crash import BotProcess, Database, bot, database, explained  # noqa: F401  (fixtures)

RECIPIENTS = 2000
FIRST_CHAT = 100_000
CHATS = frozenset(range(FIRST_CHAT, FIRST_CHAT + RECIPIENTS))
KILL_AT = RECIPIENTS // 3
RATE = 200
FINISH_TIMEOUT = 60.0
RELEASED = re.compile(r"outbox: (\d+) message\(s\) were in flight")


async def seed(db: Database) -> int:
    """2,000 subscribed, consenting Telegram citizens and one notice to everyone, due now."""
    now = utc_now()
    rows = [
        {
            "channel": "telegram", "channel_user_id": str(chat), "locale": "vi", "subscribed": True,
            "consent_at": now, "created_at": now, "last_seen_at": now,
        }
        for chat in sorted(CHATS)
    ]
    engine = create_engine(db.url)
    try:
        async with session_factory(engine)() as session:
            await session.exec(insert(Citizen), params=rows)  # type: ignore[call-overload]
            broadcast = await create_broadcast(
                session, texts={"vi": "Thông báo: tiêm chủng cho trẻ em tại trạm y tế xã sáng thứ Bảy."},
                target={}, send_at=now, now=now, author="crash-test",
            )
            await session.commit()
            assert broadcast.id is not None
            return broadcast.id
    finally:
        await engine.dispose()


class Deliveries:
    """Counts the notices the fake Telegram recorded per recipient chat (read incrementally)."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.per_chat: Counter[int] = Counter()
        self._seen = 0

    def update(self) -> Counter[int]:
        sent = self.tg.sent
        for record in sent[self._seen:]:
            if record.method == "sendMessage" and record.chat_id is not None and int(record.chat_id) in CHATS:
                self.per_chat[int(record.chat_id)] += 1
        self._seen = len(sent)
        return self.per_chat

    @property
    def total(self) -> int:
        return sum(self.update().values())

    async def wait(self, done, what: str, timeout: float, bot: BotProcess) -> None:  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self.update()):
            if not bot.running:
                raise AssertionError(f"the bot exited with status {bot.proc.returncode if bot.proc else None} "
                                     f"while waiting for {what}")
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}: {self.total} notices to "
                    f"{len(self.per_chat)} of {RECIPIENTS} chats"
                )
            await asyncio.sleep(0.005)


async def test_kill_during_a_2000_recipient_broadcast_repeats_only_the_messages_in_flight(
    bot: BotProcess, tg: FakeTelegram, database: Database  # noqa: F811
) -> None:
    began = time.monotonic()
    broadcast_id = await seed(database)
    bot.env.update(QUIET_HOURS="", TELEGRAM_RATE_LIMIT=str(RATE), TELEGRAM_POLL_TIMEOUT="1")
    deliveries = Deliveries(tg)
    with explained(bot, tg):
        # First run: kill it once about a third of the notices have reached Telegram.
        await bot.start()
        await deliveries.wait(lambda per_chat: sum(per_chat.values()) >= KILL_AT, "a third of the notices", 30, bot)
        await bot.kill()
        await database.holders_gone()
        killed_at = time.monotonic()
        recorded_at_kill = deliveries.total
        await asyncio.sleep(0.3)  # a request the fake was still answering at the kill is recorded by now
        before_restart = dict(deliveries.update())
        assert all(count == 1 for count in before_restart.values()), (
            f"a chat got the notice twice before any crash: {[c for c, n in before_restart.items() if n > 1][:20]}"
        )
        rows = await database.query("SELECT chat_id, status FROM outbox WHERE broadcast_id = :id", id=broadcast_id)
        assert len(rows) == RECIPIENTS, f"the broadcast was queued for {len(rows)} citizens, not {RECIPIENTS}"
        status_at_kill = {int(chat): status for chat, status in rows}
        sent_at_kill = sum(status == "sent" for status in status_at_kill.values())
        in_flight = sorted(chat for chat in before_restart if status_at_kill[chat] != "sent")
        assert sent_at_kill < RECIPIENTS, "the broadcast was finished before the kill: nothing was tested"
        assert not any(status_at_kill[chat] == "sent" for chat in CHATS - before_restart.keys()), (
            "the outbox says sent for a chat Telegram never got a notice from"
        )

        # Second run: the rest goes out, and the messages that were in flight go out again.
        await bot.start()
        await deliveries.wait(lambda per_chat: len(per_chat) == RECIPIENTS, "every recipient", FINISH_TIMEOUT, bot)
        await asyncio.sleep(1.0)  # late repeats, if any, are recorded too
        finished = time.monotonic()
        log = bot.logs[-1]
        bot.proc.terminate()  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while bot.running and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert not bot.running, "the bot did not stop within 15 s of SIGTERM"

        per_chat = deliveries.update()
        missing = sorted(CHATS - per_chat.keys())
        twice = sorted(chat for chat, count in per_chat.items() if count == 2)
        thrice = sorted(chat for chat, count in per_chat.items() if count >= 3)
        released = [int(n) for n in RELEASED.findall(log.read_text(errors="replace"))]
        summary = (
            f"recorded at kill {recorded_at_kill} (outbox sent {sent_at_kill}, in flight {len(in_flight)}), "
            f"released at restart {released}, duplicates {len(twice)}, "
            f"kill after {killed_at - began:.1f}s, total {finished - began:.1f}s"
        )
        print(summary)
        assert not missing, f"{len(missing)} recipients never got the notice, e.g. {missing[:20]}; {summary}"
        assert not thrice, f"chats that got the notice three times or more: {thrice[:20]}; {summary}"
        assert len(twice) <= PARALLEL, f"{len(twice)} chats got the notice twice, more than PARALLEL={PARALLEL}; {summary}"
        assert twice == in_flight, (
            f"the repeats are not the messages that were in flight at the kill: repeated {twice}, "
            f"delivered but not recorded as sent at the kill {in_flight}; {summary}"
        )
        outbox = await database.query("SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = :id GROUP BY status",
                                      id=broadcast_id)
        assert outbox == [("sent", RECIPIENTS)], f"outbox rows of the broadcast by status: {outbox}; {summary}"
        chats = await database.query("SELECT DISTINCT chat_id FROM outbox WHERE broadcast_id = :id", id=broadcast_id)
        assert len(chats) == RECIPIENTS
        # The delivery counters, kept by the database in the same transactions, agree after the kill.
        engine = create_engine(database.url)
        try:
            async with session_factory(engine)() as session:
                assert await tally.counts(session, ("status", "reason"), broadcast_ids=[broadcast_id]) == {
                    ("sent", ""): RECIPIENTS}
                await tally.fold_all(session, limit=500)
                assert await tally.counts(session, ("status",), broadcast_ids=[broadcast_id]) == {("sent",): RECIPIENTS}
        finally:
            await engine.dispose()
