"""What the two inboxes (Telegram's updates in `telegram_receiver`, the Zalo channels' events in
`inbox`) share: the errors that mean the database is unavailable, how they are logged, reading the
unfinished rows while it is, and marking handled rows done in groups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver
from storage.db import SessionFactory

log = logging.getLogger(__name__)

DATABASE_ERRORS = (SQLAlchemyError, OSError)
Key = TypeVar("Key", int, str)
Rows = TypeVar("Rows")
MarkDone = Callable[[AsyncSession, Collection[Key], datetime], Awaitable[None]]


def short_error(error: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's long background notes."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


async def read_unfinished(
    label: str, read: Callable[[], Awaitable[Rows]], *, starting: bool, backoff: float
) -> Rows | None:
    """`read()` the rows left to handle. While the database is unavailable: at start-up, try again
    (waiting twice as long each time, up to `backoff` seconds); later, None (the next sweep looks)."""
    delay = 1.0
    while True:
        try:
            return await read()
        except DATABASE_ERRORS as exc:
            if not starting:
                log.error("%s inbox: database unavailable (%s); looking again later", label, short_error(exc))
                return None
            log.error("%s inbox: database unavailable (%s); retrying in %.0f s", label, short_error(exc), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, backoff)


class DoneMarks(Generic[Key]):
    """Rows handled and not yet marked done. Whoever holds the lock marks every row handled so far in
    one transaction (one commit per group, not per row, on SQLite's single writer)."""

    def __init__(
        self,
        sessions: SessionFactory,
        mark_done: MarkDone[Key],
        clock: Callable[[], datetime],
        label: str,
        rows: str,
    ) -> None:
        self.sessions = sessions
        self.mark_done: MarkDone[Key] = mark_done
        self.clock = clock
        self.label = label  # as the logs name the inbox ("Telegram", "zalo_oa") and its rows ("update(s)")
        self.rows = rows
        self._done: set[Key] = set()
        self._recording = asyncio.Lock()

    async def finished(self, key: Key) -> set[Key]:
        """Note a row handled and mark it done, with the others waiting; the rows marked. While the
        database is unavailable nothing is marked: the next call, or the next sweep, tries again."""
        self._done.add(key)
        with contextlib.suppress(*DATABASE_ERRORS):
            return await self.record(key)
        return set()

    async def record(self, key: Key | None = None) -> set[Key]:
        """Mark the rows handled so far done (none when the previous holder of the lock marked `key`
        already); the rows marked. Raises the database's errors, keeping the rows for the next try."""
        async with self._recording:
            if key is not None and key not in self._done or not self._done:
                return set()  # marked by the previous holder
            group, self._done = self._done, set()
            try:
                with sqlite_driver.inline():
                    async with self.sessions() as session:
                        await self.mark_done(session, group, self.clock())
                        await session.commit()
            except BaseException as exc:
                self._done |= group  # the next holder, or the next sweep, tries again
                if isinstance(exc, DATABASE_ERRORS):
                    log.error(
                        "%s inbox: database unavailable (%s); %d handled %s not marked yet",
                        self.label,
                        short_error(exc),
                        len(group),
                        self.rows,
                    )
                raise
            return group
