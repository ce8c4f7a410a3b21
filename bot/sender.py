"""The outbox sender: delivers queued messages on push channels (Telegram), obeying the platform.

- `retry_after` on 429 is waited out without counting an attempt;
- "blocked by the user" marks the citizen unreachable and unsubscribed, and the message failed;
- network errors retry with exponential backoff, up to MAX_ATTEMPTS;
- other Bot API errors (bad request, chat not found) are permanent: failed, not retried.
Messages a killed process left `sending` go back to pending at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from handlers.engine import Clock
from handlers.render import payload_replies
from handlers.types import Reply
from storage import outbox
from storage.db import SessionFactory
from storage.models import Citizen, OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(hours=1)
Deliver = Callable[[str, list[Reply]], Awaitable[None]]


class Sender:
    """Drains the outbox of one channel through `deliver(chat_id, replies)`."""

    def __init__(self, sessions: SessionFactory, channel: str, deliver: Deliver, clock: Clock, *, idle: float = 1.0) -> None:
        self.sessions = sessions
        self.channel = channel
        self.deliver = deliver
        self.clock = clock
        self.idle = idle
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now rather than after the idle pause."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        async with self.sessions() as session:
            released = await outbox.release_in_flight(session)
            await session.commit()
        if released:
            log.warning("outbox: %d message(s) were in flight when the bot stopped; sending them again", released)
        while True:
            try:
                sent = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox: sending failed; retrying shortly")
                sent = 0
            if not sent:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle)
                except TimeoutError:
                    pass

    async def drain_once(self, limit: int = 20) -> int:
        """Claim a batch, deliver it one by one, record each outcome; return how many were tried."""
        async with self.sessions() as session:
            batch = await outbox.claim(session, self.channel, self.clock(), limit)
            await session.commit()
        for message in batch:
            await self._send(message)
        return len(batch)

    async def _send(self, message: OutboxMessage) -> None:
        error: TelegramError | None = None
        try:
            await self.deliver(message.chat_id, payload_replies(message.payload))
        except TelegramError as exc:
            error = exc
        async with self.sessions() as session:
            stored = await session.get(OutboxMessage, message.id)
            if stored is None:
                return
            now = self.clock()
            if error is None:
                outbox.mark_sent(stored, now)
            elif isinstance(error, RetryAfter):
                wait = error.retry_after if isinstance(error.retry_after, timedelta) else timedelta(seconds=error.retry_after)
                outbox.mark_retry(stored, now, wait, str(error), count_attempt=False)
            elif isinstance(error, Forbidden):
                outbox.mark_failed(stored, "blocked", str(error))
                await self._unreachable(session, stored, now)
            elif isinstance(error, NetworkError) and not isinstance(error, BadRequest) and stored.attempts < MAX_ATTEMPTS:
                outbox.mark_retry(stored, now, min(timedelta(seconds=2 ** stored.attempts), MAX_BACKOFF), str(error))
            else:
                outbox.mark_failed(stored, "error", str(error))
            await session.commit()
        if error is not None:
            log.warning("outbox: message %s to %s: %s", message.id, self.channel, error)

    @staticmethod
    async def _unreachable(session, message: OutboxMessage, now) -> None:  # type: ignore[no-untyped-def]
        """The citizen blocked the bot: stop sending them anything."""
        citizen = await session.get(Citizen, message.citizen_id) if message.citizen_id else None
        if citizen is not None:
            citizen.unreachable_at = now
            citizen.subscribed = False
