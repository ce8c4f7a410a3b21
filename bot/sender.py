"""The outbox sender: delivers queued messages on push channels (Telegram, Zalo), obeying the platform.

- at most `rate` messages a second overall and one a second per chat (aiolimiter), a few at a time;
- the next batch is claimed while the last one is still going out, and the messages delivered at
  about the same moment are marked sent in one transaction (a message holds its place among the
  PARALLEL until it is recorded, so a kill repeats at most PARALLEL messages);
- bulk notices wait during quiet hours (urgent notices and ticket replies do not);
- `retry_after` on 429 pauses the channel (claimed messages too) and is waited out without counting
  an attempt;
- "blocked by the user" marks the citizen unreachable and unsubscribed, and the message failed;
- network errors retry with exponential backoff, up to MAX_ATTEMPTS;
- other Bot API errors (bad request, chat not found) are permanent: failed, not retried;
- a channel with a reply window (Zalo Official Account: 7 days after the citizen's last message)
  skips what it may no longer send, with the window's reason, and marks what the platform charges for.
Channels tell the sender what went wrong with the neutral errors below (`SendError`), whatever their
platform calls it. Messages a killed process left `sending` go back to pending at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from bot.config import QuietTimes, parse_quiet_hours
from bot.metrics import OUTBOX_RESULTS
from handlers.engine import Clock
from handlers.render import payload_replies
from handlers.types import Reply
from storage import outbox
from storage import staff as staff_repo
from storage.core import id_of
from storage.db import SessionFactory
from storage.models import Citizen, OutboxMessage, Staff

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 14  # with the backoff below, a platform outage of about 3 hours is waited out
MAX_BACKOFF = timedelta(hours=1)
PARALLEL = 16
RATE_MARGIN = 0.95
CHAT_LIMITERS = 10_000
Deliver = Callable[[str, list[Reply]], Awaitable[None]]


class SendError(Exception):
    """A delivery failed; the subclass says what the sender does about it."""


class RateLimited(SendError):
    """The platform asks to slow down: the whole channel pauses `retry_after` seconds, no attempt counted."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class SendBlocked(SendError):
    """The recipient cannot be reached (blocked the bot, unfollowed): failed, and they get nothing more."""


class SendRetry(SendError):
    """A transient problem (network, 5xx): tried again with backoff, up to MAX_ATTEMPTS."""


class SendFailed(SendError):
    """A permanent refusal (bad request, unknown chat): failed, not retried."""


class SendSkipped(SendError):
    """The platform may not be sent this message now (e.g. outside its reply window): skipped with `reason`."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which bulk notices wait ("21:00-06:30"); empty means never quiet."""

    start: time | None = None
    end: time | None = None
    tz: ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> QuietHours:
        """From "HH:MM-HH:MM" (may wrap past midnight), or "" for none."""
        return cls.of(parse_quiet_hours(text), tz)

    @classmethod
    def of(cls, hours: QuietTimes | None, tz: ZoneInfo) -> QuietHours:
        """From the QUIET_HOURS setting (None: never quiet)."""
        return cls(tz=tz) if hours is None else cls(hours.start, hours.end, tz)

    def __contains__(self, moment: datetime) -> bool:
        if self.start is None or self.end is None:
            return False
        local = moment.astimezone(self.tz).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(eq=False)
class Sender:
    """Drains the outbox of one channel through `deliver(chat_id, replies)`."""

    sessions: SessionFactory
    channel: str
    deliver: Deliver
    clock: Clock
    _: KW_ONLY
    idle: float = 1.0
    rate: float = 25.0
    per_chat: float = 1.0
    quiet: QuietHours = QuietHours()
    window: outbox.ReplyWindow | None = None

    def __post_init__(self) -> None:
        # A little under the configured rate: sending exactly at the platform's limit, timing jitter
        # turns into 429s, and each one pauses the whole channel.
        self._overall = AsyncLimiter(self.rate * RATE_MARGIN, 1)
        self._chats: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self._parallel = asyncio.Semaphore(PARALLEL)
        self._paused_until: datetime | None = None
        self._wake = asyncio.Event()
        self._delivered: set[int] = set()
        self._recording = asyncio.Lock()

    def wake(self) -> None:
        """Look at the outbox now rather than after the idle pause."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled, claiming each batch while the one before is still going out (a
        batch claimed only after the last one finished would leave the rate unused meanwhile)."""
        async with self.sessions() as session:
            released = await outbox.release_in_flight(session, self.clock())
            await session.commit()
        if released:
            log.warning("outbox: %d message(s) were in flight when the bot stopped; sending them again", released)
        going: asyncio.Task[None] | None = None
        outage = 0.0  # seconds to wait before the next claim while the database is unavailable
        try:
            while True:
                try:
                    batch = await self._claim()
                    outage = 0.0
                except (SQLAlchemyError, OSError) as exc:
                    outage = min(max(outage * 2, self.idle), 30.0)
                    log.error(
                        "outbox %s: database unavailable (%s: %.200s); trying again in %.0f s",
                        self.channel,
                        type(exc).__name__,
                        str(exc).split("\n", 1)[0],
                        outage,
                    )
                    await asyncio.sleep(outage)
                    batch = []
                except Exception:
                    log.exception("outbox: claiming failed; retrying shortly")
                    batch = []
                previous, going = going, asyncio.create_task(self._deliver(batch)) if batch else None
                if previous is not None:
                    try:
                        await previous
                    except Exception:
                        log.exception("outbox: sending failed; retrying shortly")
                elif not batch:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.idle)
        finally:
            if going is not None:
                going.cancel()
                await asyncio.gather(going, return_exceptions=True)

    async def drain_once(self, limit: int = 50) -> int:
        """Claim a batch, deliver it within the limits, record each outcome; return how many were tried."""
        batch = await self._claim(limit)
        await self._deliver(batch)
        return len(batch)

    async def _claim(self, limit: int = 50) -> list[OutboxMessage]:
        """The next due messages, marked `sending`; none while a 429 pauses the channel."""
        now = self.clock()
        if self._paused_until is not None and now < self._paused_until:
            await asyncio.sleep(min((self._paused_until - now).total_seconds(), 5))
            return []
        async with self.sessions() as session:
            batch = await outbox.claim(
                session, self.channel, now, limit, include_bulk=now not in self.quiet, window=self.window
            )
            await session.commit()
        return batch

    async def _deliver(self, batch: list[OutboxMessage]) -> None:
        """Send a claimed batch within the limits and record each outcome."""
        await asyncio.gather(*(self._limited(message) for message in batch))

    async def _limited(self, message: OutboxMessage) -> None:
        """Send one message when the overall and the per-chat limits allow, and no 429 pauses the channel."""
        async with self._chat_limiter(message.chat_id), self._parallel, self._overall:
            await self._pause_over()
            await self._send(message)

    async def _pause_over(self) -> None:
        """Wait out a 429's pause: messages already claimed would only draw more 429s meanwhile."""
        while self._paused_until is not None and (now := self.clock()) < self._paused_until:
            await asyncio.sleep(min((self._paused_until - now).total_seconds(), 5))

    def _chat_limiter(self, chat_id: str) -> AsyncLimiter:
        limiter = self._chats.pop(chat_id, None) or AsyncLimiter(1, 1 / self.per_chat)
        self._chats[chat_id] = limiter
        if len(self._chats) > CHAT_LIMITERS:
            self._chats.popitem(last=False)
        return limiter

    async def _send(self, message: OutboxMessage) -> None:
        error: Exception | None = None
        try:
            await self.deliver(message.chat_id, payload_replies(message.payload))
        except SendError as exc:
            error = exc
        except Exception as exc:  # a row that cannot be sent at all must not stay `sending`
            log.exception("outbox: message %s cannot be sent", message.id)
            error = exc
        if error is None:
            await self._record_sent(id_of(message))
            OUTBOX_RESULTS.labels(self.channel, "sent").inc()
            return
        async with self.sessions() as session:
            stored = await session.get(OutboxMessage, message.id)
            if stored is None:
                return
            now = self.clock()
            if isinstance(error, RateLimited):
                wait = timedelta(seconds=error.retry_after)
                outbox.mark_retry(stored, now, wait, str(error), count_attempt=False)
                self._paused_until = max(self._paused_until or now, now + wait)
                result = "rate_limited"
            elif isinstance(error, SendBlocked):
                outbox.mark_failed(stored, "blocked", str(error))
                await self._unreachable(session, stored, now)
                result = "unreachable"
            elif isinstance(error, SendSkipped):
                outbox.mark_failed(stored, error.reason, str(error), skipped=True)
                result = "skipped"
            elif isinstance(error, SendRetry) and stored.attempts < MAX_ATTEMPTS:
                outbox.mark_retry(stored, now, min(timedelta(seconds=2**stored.attempts), MAX_BACKOFF), str(error))
                result = "retry"
            else:
                outbox.mark_failed(stored, "error", str(error))
                result = "failed"
            await session.commit()
        OUTBOX_RESULTS.labels(self.channel, result).inc()
        log.warning("outbox: message %s to %s: %s", message.id, self.channel, error)

    async def _record_sent(self, message_id: int) -> None:
        """Mark a delivered message sent. Whoever holds the lock marks every message delivered so
        far in one transaction: one commit per group, not per message, on SQLite's single writer."""
        self._delivered.add(message_id)
        async with self._recording:
            if message_id not in self._delivered:
                return  # marked by the previous holder, whose transaction is committed by now
            group, self._delivered = self._delivered, set()
            try:
                async with self.sessions() as session:
                    await outbox.mark_sent_many(session, group, self.clock())
                    await session.commit()
            except BaseException:
                self._delivered |= group  # the next holder tries again
                raise

    async def _unreachable(self, session, message: OutboxMessage, now) -> None:
        """The recipient blocked the bot: stop sending them anything (a citizen is marked
        unreachable and unsubscribed; an officer's chat link is removed)."""
        citizen = await session.get(Citizen, message.citizen_id) if message.citizen_id else None
        if citizen is not None:
            citizen.unreachable_at = now
            citizen.subscribed = False
            return
        for staff in (
            await session.exec(
                select(Staff).where(Staff.chat_channel == self.channel, Staff.chat_user_id == message.chat_id)
            )
        ).all():
            log.warning("outbox: staff %s blocked the bot; their chat link is removed", staff.username)
            staff_repo.unlink_chat(staff)
