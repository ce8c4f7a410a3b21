"""Which process holds a lease, and whether that process is still running (PostgreSQL).

A lease (an update being handled, a message being sent, a token being refreshed) ends by itself
after a while, so that work a dead process held is taken up again. Several processes share a
PostgreSQL database, so a process cannot simply take every lease at its start: the others may be
working right now. Each process therefore picks a random holder number, holds a PostgreSQL advisory
lock on it for as long as it runs, and writes the number on the leases it takes. PostgreSQL drops
the lock when the process or its connection ends: a lease whose holder nobody locks belongs to a
process that is gone, and is taken up at once rather than when it runs out.

SQLite has one process, which takes every lease left over at its start: no numbers there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from sqlalchemy import and_, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import run

log = logging.getLogger(__name__)

KEY = "holder"  # where a session's holder number is kept, in `Session.info`
CHECK_SECONDS = 5.0  # how often the lock's connection is checked
RETRY_SECONDS = 30.0  # the longest wait between tries to lock again while the database is away

# The advisory locks on one 64-bit key held in this database: pg_locks shows such a key as its high
# and low 32 bits, objsubid 1 (https://www.postgresql.org/docs/current/view-pg-locks.html).
LIVE = text(
    "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks"
    " WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class Holder:
    """This process's holder number, locked on a connection of its own while the process runs.

    `info` is what the process's sessions carry (`Session.info`, copied when a session opens): the
    number while it is locked, nothing while the database is away, so that no lease is written
    under a number nobody locks (such a lease waits until it runs out, as without numbers).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.number: int | None = None
        self.info: dict[str, Any] = {}
        self._connection: AsyncConnection | None = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.engine.dialect.name != "postgresql":
            return
        self.number = secrets.randbelow(2**62) + 1
        try:
            await self._lock()
        except Exception as exc:  # the database is away: the keeper tries again
            log.error("lease holder %s: database unavailable (%s); locking later", self.number, type(exc).__name__)
        self._keeper = asyncio.create_task(self._keep(), name="lease-holder")

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self._close()

    async def _lock(self) -> None:
        connection = await self.engine.connect()
        try:
            await connection.execute(text("SELECT pg_advisory_lock(:number)"), {"number": self.number})
            await connection.commit()  # the lock is the session's: it outlives the transaction
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self._connection = connection
        self.info[KEY] = self.number

    async def _close(self) -> None:
        self.info.pop(KEY, None)
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()  # ends the server's session, and the lock with it
            with contextlib.suppress(Exception):
                await connection.close()

    async def _keep(self) -> None:
        """Check the connection now and then; after a database outage, lock the number again."""
        retry = CHECK_SECONDS
        while True:
            await asyncio.sleep(CHECK_SECONDS if self._connection is not None else retry)
            try:
                if self._connection is None:
                    await self._lock()
                    retry = CHECK_SECONDS
                    log.warning("lease holder %s: locked again, the database is back", self.number)
                    continue
                await self._connection.execute(text("SELECT 1"))
                await self._connection.commit()
            except Exception as exc:  # the database is away; the lock went with the connection
                if self._connection is not None:
                    log.error(
                        "lease holder %s: database unavailable (%s); locking again when it is back",
                        self.number,
                        type(exc).__name__,
                    )
                else:
                    retry = min(retry * 2, RETRY_SECONDS)
                await self._close()


def mine(session: AsyncSession) -> int | None:
    """The holder number to write on a lease taken in `session` (None: SQLite, or a command)."""
    return session.info.get(KEY)


async def running(session: AsyncSession) -> set[int]:
    """The holder numbers of the processes running now (PostgreSQL only)."""
    return set((await run(session, LIVE)).scalars().all())


async def gone(session: AsyncSession, column: Any) -> Any:
    """A condition true for rows whose holder `column` names a process that is gone (PostgreSQL)."""
    live = await running(session)
    return and_(column.is_not(None), column.not_in(live)) if live else column.is_not(None)
