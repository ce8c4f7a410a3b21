"""Webhook events of the Zalo channels, stored before Zalo is answered and handled from the record.

Zalo wants a webhook's answer within about 2 seconds and delivers an unanswered event again later
(the Official Account about 30 s, 5 min, 15 min, 30 min and 1 h after). So a webhook only checks the
request, stores the event in the `zalo_inbox` table (committed) and answers; the event is handled
from the record afterwards, however slow the turn or the sends: one chat's events one at a time in
the order they were recorded (across processes too), other chats' at once (up to `parallel`). An
event stored but not handled when its process died is handled after the restart (SQLite: everything
left over; PostgreSQL: what the dead process held, once its lease-holder lock is gone, see
storage.holders), once. A redelivered event, or the same event reaching two processes, is only
acknowledged; handled keys are kept for `zalo_inbox.KEEP_DONE` and pruned after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.channels import background
from bot.channels.handled import DATABASE_ERRORS, DoneMarks, read_unfinished, short_error
from bot.ordering import KeyedLocks
from storage import sqlite_driver, zalo_inbox
from storage.db import SessionFactory

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # how often rows of dead processes are looked for, and old keys pruned
STOP_GRACE = 10.0  # seconds events being handled may take to finish when the process stops
MAX_BACKOFF = 30.0
# The longest an event waits for its chat's earlier events in other hands: a dead process's lease
# ends (zalo_inbox.LEASE) and a sweep takes its events up within this.
WAIT_FOR_EARLIER = zalo_inbox.LEASE.total_seconds() + 2 * SWEEP_SECONDS
Handle = Callable[[dict], Awaitable[None]]


class DatabaseUnavailable(Exception):
    """The event could not be stored: Zalo must not be told it arrived (it delivers it again)."""


class Inbox:
    """Stores one channel's webhook events (`accept`) and hands each to `handle(payload)` once."""

    def __init__(
        self,
        sessions: SessionFactory,
        channel: str,
        handle: Handle,
        locks: KeyedLocks,
        clock: Callable[[], datetime],
        *,
        parallel: int,
        sweep_every: float = SWEEP_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.handle = handle
        self.locks = locks
        self.clock = clock
        self.sweep_every = sweep_every
        self._slots = asyncio.Semaphore(parallel)
        self._busy: set[str] = set()  # taken by this process and not yet marked done
        self._handled: dict[str, asyncio.Event] = {}  # taken by this process: set once handled
        self._marks = DoneMarks[str](sessions, zalo_inbox.mark_done, clock, channel, "event(s)")
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Handle what the last run left unfinished, then look now and then for rows of dead processes."""
        self._sweeper = asyncio.create_task(self._sweep(), name=f"{self.channel}:inbox")

    async def stop(self) -> None:
        """Stop sweeping; let the events being handled finish (briefly) and mark them done."""
        await background.cancel(self._sweeper)
        await background.finish(self._tasks, STOP_GRACE)  # what is cancelled is handled again after the restart
        with contextlib.suppress(*DATABASE_ERRORS):
            await self._record_done()

    async def accept(self, key: str, chat_id: str, payload: dict) -> bool:
        """Store an event (committed) and start handling it; False when it is known already (handled,
        or being handled here or by another process). Raises DatabaseUnavailable."""
        try:
            with sqlite_driver.inline():  # one short insert: no trip to SQLite's thread
                async with self.sessions() as session:
                    taken = await zalo_inbox.take(
                        session,
                        key=key,
                        channel=self.channel,
                        chat_id=chat_id,
                        payload=payload,
                        now=self.clock(),
                        busy=self._busy,
                    )
                    await session.commit()
        except DATABASE_ERRORS as exc:
            log.error("%s inbox: database unavailable (%s); event %s not stored", self.channel, short_error(exc), key)
            raise DatabaseUnavailable(short_error(exc)) from exc
        if taken:
            self._dispatch(key, chat_id, payload)
        else:
            log.info("%s: event %s was received before; not handled again", self.channel, key)
        return taken

    async def idle(self) -> None:
        """Wait until every event taken so far is handled and marked done (tests, stopping)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)
        await self._record_done()

    def _dispatch(self, key: str, chat_id: str, payload: dict) -> None:
        self._busy.add(key)
        self._handled[key] = asyncio.Event()
        task = asyncio.create_task(self._run(key, chat_id, payload), name=f"{self.channel}:event")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, chat_id: str, payload: dict) -> None:
        """Handle one event once the chat's earlier ones are done, here or in another process."""
        await self._after_earlier(key, chat_id)
        async with self.locks.hold((self.channel, chat_id)), self._slots:
            try:
                await self.handle(payload)
            except Exception:  # a broken event is not handled again and again
                log.exception("%s: event %s failed", self.channel, key)
        await self._finished(key)

    async def _after_earlier(self, key: str, chat_id: str) -> None:
        """Wait until the chat's events recorded before `key` are handled: by this process (told by
        their `_handled` flag), or by another one (two web processes behind the proxy may each get
        one of a chat's events at the same moment; the record says when it is done). Only earlier
        events are waited for, so nobody waits in a circle. A process that died holding one frees it
        within WAIT_FOR_EARLIER (see _resume); after that the event is handled anyway: late and out
        of order rather than never."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_FOR_EARLIER
        pause = 0.02
        while True:
            try:
                with sqlite_driver.inline():
                    async with self.sessions() as session:
                        earlier = await zalo_inbox.earlier_not_done(session, self.channel, chat_id, key)
            except DATABASE_ERRORS as exc:
                log.error(
                    "%s inbox: database unavailable (%s); event %s handled without waiting for earlier ones",
                    self.channel,
                    short_error(exc),
                    key,
                )
                return
            here = [self._handled[other] for other in earlier if other in self._handled]
            elsewhere = len(earlier) - len(here)
            if not earlier or (not elsewhere and all(flag.is_set() for flag in here)):
                return
            left = deadline - loop.time()
            if left <= 0:
                log.warning(
                    "%s: event %s handled before %d earlier event(s) of its chat that are still not done",
                    self.channel,
                    key,
                    len(earlier),
                )
                return
            if elsewhere and pause == 0.02:
                log.info(
                    "%s: event %s waits for %d earlier event(s) of its chat handled elsewhere",
                    self.channel,
                    key,
                    elsewhere,
                )
            try:
                if elsewhere:
                    await asyncio.sleep(min(pause, left))
                    pause = min(pause * 2, 1.0)
                else:
                    await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in here)), left)
            except TimeoutError:
                pass

    async def _finished(self, key: str) -> None:
        self._handled[key].set()
        self._forget(await self._marks.finished(key))

    async def _record_done(self) -> None:
        """Mark the events handled so far done (raises the database's errors)."""
        self._forget(await self._marks.record())

    def _forget(self, marked: set[str]) -> None:
        """Events marked done are no longer this process's."""
        self._busy -= marked
        for handled in marked:
            self._handled.pop(handled, None)

    async def _sweep(self) -> None:
        await self._resume(starting=True)
        while True:
            await asyncio.sleep(self.sweep_every)
            await self._resume(starting=False)

    async def _resume(self, *, starting: bool) -> None:
        """Handle the rows not done that nobody handles, oldest first; prune old keys."""

        async def read() -> tuple[list[zalo_inbox.ZaloInboxRow], int]:
            await self._record_done()
            async with self.sessions() as session:
                rows = await zalo_inbox.unfinished(
                    session, self.channel, self.clock(), starting=starting, busy=self._busy
                )
                pruned = await zalo_inbox.prune(session, self.clock())
                await session.commit()
            return rows, pruned

        found = await read_unfinished(self.channel, read, starting=starting, backoff=MAX_BACKOFF)
        if found is None:
            return
        rows, pruned = found
        if rows:
            log.warning("%s: %d event(s) received but not handled before; handling them now", self.channel, len(rows))
        for row in rows:
            self._dispatch(row.key, row.chat_id, row.payload or {})
        if pruned:
            log.debug("%s inbox: %d old event key(s) pruned", self.channel, pruned)
