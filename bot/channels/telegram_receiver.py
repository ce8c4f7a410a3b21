"""Receiving Telegram updates through the inbox table, so that none is lost to a crash.

python-telegram-bot's Updater confirms an update (by the next getUpdates offset) as soon as it is
queued, before any handler ran: a process killed then loses it. Here the poll loop is our own: an
update is stored in the inbox first, then confirmed, handled, and marked done. A webhook request is
answered only once its update is stored. Unfinished updates are handled again at start-up, before
new ones, in order; a redelivered update (same update_id) is not handled twice, even by another
process on the same database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

from bot.channels.handled import DATABASE_ERRORS, DoneMarks, read_unfinished, short_error
from handlers.engine import Clock
from storage import sqlite_driver, telegram_inbox
from storage.db import SessionFactory

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # how often rows of dead processes are looked for, and old ids pruned
MAX_BACKOFF = 30.0


class DatabaseUnavailable(Exception):
    """The inbox could not be written: the update must not be confirmed to Telegram."""


class Receiver:
    """Takes updates from getUpdates or the webhook into the inbox and hands them to `application`."""

    def __init__(
        self,
        application: Application,
        sessions: SessionFactory,
        clock: Clock,
        *,
        poll_timeout: int,
        allowed_updates: Sequence[str],
    ) -> None:
        self.application = application
        self.sessions = sessions
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.allowed_updates = list(allowed_updates)
        self._busy: set[int] = set()  # taken by this process and not yet marked done
        self._marks = DoneMarks[int](sessions, telegram_inbox.mark_done, clock, "Telegram", "update(s)")
        self._storing = asyncio.Lock()
        self._arrivals: list[tuple[Update, dict | None, asyncio.Future[bool]]] = []  # webhook updates not stored yet
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, *, polling: bool) -> None:
        """Resume what the last run left unfinished, then receive (polling) and sweep."""
        self._tasks.append(asyncio.create_task(self._sweep(polling=polling), name="telegram:inbox"))

    async def stop(self) -> None:
        """Stop polling and sweeping (updates being handled finish with the application)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def accept(self, update: Update, payload: dict | None = None) -> asyncio.Task[None] | None:
        """Store a webhook update (`payload`: the JSON it came as, stored as it is) and start handling
        it; None when it is known already (handled, or being handled here or by another process).
        Raises DatabaseUnavailable.

        Webhook requests that arrive while an earlier group is being stored wait for it, then are
        stored together in one transaction (one commit per group, not per update)."""
        arrival: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._arrivals.append((update, payload, arrival))
        async with self._storing:
            if not arrival.done():
                group, self._arrivals = self._arrivals, []
                unique = list({stored.update_id: stored for stored, _, _ in group}.values())
                payloads = {stored.update_id: body for stored, body, _ in group if body is not None}
                try:
                    taken = await self._take(unique, payloads)
                except BaseException as exc:
                    failure = exc if isinstance(exc, DatabaseUnavailable) else DatabaseUnavailable(short_error(exc))
                    for _, _, waiting in group:
                        if waiting is not arrival:
                            waiting.set_exception(failure)
                    raise
                for stored, _, waiting in group:  # the same update twice in a group is handled once
                    waiting.set_result(stored.update_id in taken)
                    taken.discard(stored.update_id)
        return self._dispatch(update) if arrival.result() else None

    async def flush(self) -> None:
        """Mark what was handled as done (after a database outage, or before stopping)."""
        await self._record_done()

    # ------------------------------------------------------------------ polling

    async def _sweep(self, *, polling: bool) -> None:
        """At start, the unfinished rows of the last run; then poll, and now and then look for rows
        a dead process left and prune old ids."""
        await self._resume(starting=True)
        poller = asyncio.create_task(self._poll(), name="telegram:poll") if polling else None
        try:
            while True:
                await asyncio.sleep(SWEEP_SECONDS)
                await self._resume(starting=False)
        finally:
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)

    async def _resume(self, *, starting: bool) -> None:
        """Handle the rows not done that nobody is handling, oldest first; prune old ids."""

        async def read() -> tuple[list[telegram_inbox.TelegramInboxRow], int]:
            await self._record_done()
            async with self.sessions() as session:
                rows = await telegram_inbox.unfinished(session, self.clock(), starting=starting, busy=self._busy)
                pruned = await telegram_inbox.prune(session, self.clock())
                await session.commit()
            return rows, pruned

        found = await read_unfinished("Telegram", read, starting=starting, backoff=MAX_BACKOFF)
        if found is None:
            return
        rows, pruned = found
        if rows:
            log.warning("Telegram: %d update(s) received but not handled before; handling them now", len(rows))
        for row in rows:
            try:
                update = Update.de_json(row.payload or {}, self.application.bot)  # the query reads rows with a payload
            except (KeyError, TypeError, ValueError):
                log.exception("Telegram inbox: update %s cannot be read; dropped", row.update_id)
                self._busy.add(row.update_id)
                await self._finished(row.update_id)
                continue
            self._dispatch(update)
        if pruned:
            log.debug("Telegram inbox: %d old update id(s) pruned", pruned)

    async def _poll(self) -> None:
        """getUpdates in a loop: store what comes, only then confirm it (next offset) and handle it.
        Telegram and database trouble is waited out with backoff; nothing is confirmed meanwhile."""
        bot = self.application.bot
        offset = 0
        delay = 1.0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=self.allowed_updates
                )
                taken = await self._take(updates)
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                wait = exc.retry_after
                seconds = wait if isinstance(wait, (int, float)) else wait.total_seconds()
                log.warning("Telegram: getUpdates rate limited; waiting %.0f s", seconds)
                await asyncio.sleep(seconds)
                continue
            except (Conflict, InvalidToken) as exc:
                log.error("Telegram: getUpdates refused (%s); retrying in %.0f s", exc, MAX_BACKOFF)
                await asyncio.sleep(MAX_BACKOFF)
                continue
            except (TelegramError, DatabaseUnavailable) as exc:
                log.warning("Telegram: receiving failed (%s); nothing confirmed, retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("Telegram: receiving failed; retrying in %.0f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = 1.0
            if updates:
                offset = updates[-1].update_id + 1
            for update in updates:
                if update.update_id in taken:
                    self._dispatch(update)

    # ------------------------------------------------------------------ inbox

    async def _take(self, updates: Sequence[Update], payloads: dict[int, dict] | None = None) -> set[int]:
        """Store updates in the inbox (committed), each as `payloads` has it or else as the library
        serialises it; the ids this process must handle."""
        if not updates:
            return set()
        rows = [(update.update_id, (payloads or {}).get(update.update_id) or update.to_dict()) for update in updates]
        try:
            with sqlite_driver.inline():  # one short insert: no trips to SQLite's thread
                async with self.sessions() as session:
                    taken = await telegram_inbox.take(session, rows, self.clock(), busy=self._busy)
                    await session.commit()
        except DATABASE_ERRORS as exc:
            log.error(
                "Telegram inbox: database unavailable (%s); %d update(s) not stored", short_error(exc), len(updates)
            )
            raise DatabaseUnavailable(short_error(exc)) from exc
        return set(taken)

    def _dispatch(self, update: Update) -> asyncio.Task[None]:
        """Handle an update that is in the inbox: one citizen's in order, others concurrently."""
        self._busy.add(update.update_id)
        return self.application.create_task(self._process(update), name=f"telegram:update:{update.update_id}")

    async def _process(self, update: Update) -> None:
        processor = self.application.update_processor
        try:
            await processor.process_update(update, self.application.process_update(update))
        except Exception:  # a broken update is not handled again and again
            log.exception("Telegram: update %s failed", update.update_id)
        await self._finished(update.update_id)

    async def _finished(self, update_id: int) -> None:
        """Mark an update done, with the others handled so far (see `DoneMarks`)."""
        self._busy -= await self._marks.finished(update_id)

    async def _record_done(self) -> None:
        """Mark the updates handled so far done (raises the database's errors)."""
        self._busy -= await self._marks.record()
