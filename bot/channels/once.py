"""Handle each platform event once, even when the platform delivers it again or two processes get it.

An event is claimed under a key (`<channel>:<platform id>`) in the `zalo_oa_event` table before it
is handled, marked handled after; a redelivery finds the key and is only acknowledged. If handling
fails before it changed anything, the key is released so that a redelivery may try again; if the
process dies while handling, another process may take it over after `retry_after`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from storage import zalo_oa as store
from storage.db import SessionFactory

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=2)  # an event claimed this long ago and never finished: its process died
KEEP = timedelta(days=3)  # platforms stop redelivering long before
PRUNE_EVERY = 500  # claims between two prunes of old keys


class OnceOnly:
    """Runs a handler for an event key at most once across processes (bar a process dying mid-way)."""

    def __init__(self, sessions: SessionFactory, clock: Callable[[], datetime], *, retry_after: timedelta = RETRY_AFTER) -> None:
        self.sessions = sessions
        self.clock = clock
        self.retry_after = retry_after
        self._claims = 0

    async def run(self, key: str, handle: Callable[[], Awaitable[None]]) -> bool:
        """Handle the event unless it was handled (or is being handled) before; whether it ran."""
        if not await self._claim(key):
            log.info("event %s was received before; not handled again", key)
            return False
        try:
            await handle()
        except BaseException:
            async with self.sessions() as session:
                await store.forget_event(session, key)
                await session.commit()
            raise
        async with self.sessions() as session:
            await store.finish_event(session, key, self.clock())
            await session.commit()
        return True

    async def prune(self) -> int:
        """Forget keys older than KEEP."""
        async with self.sessions() as session:
            pruned = await store.prune_events(session, self.clock() - KEEP)
            await session.commit()
        return pruned

    async def _claim(self, key: str) -> bool:
        try:
            async with self.sessions() as session:
                claimed = await store.claim_event(session, key[:200], self.clock(), stale_after=self.retry_after)
                await session.commit()
        except IntegrityError:
            return False  # another process inserted it first
        self._claims += 1
        if self._claims % PRUNE_EVERY == 0:
            await self.prune()
        return claimed
