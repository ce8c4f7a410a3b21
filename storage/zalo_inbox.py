"""Repository of the Zalo inbox: a webhook event of a Zalo channel is stored here before Zalo gets
its answer, handled from the record, then marked done.

Whoever stores or takes a row holds it for LEASE. On PostgreSQL the row also names its holder
(storage.holders): a row whose holder is gone is taken again at once, one whose holder still runs is
left to it, and one without a holder (written while the database was away) waits for its lease to
end. SQLite has one process, which takes every row left over at its start. A done row loses its
content at once (it held what the citizen wrote) and its key is kept for KEEP_DONE, so that Zalo's
redeliveries (within a day) and replays of a captured event are recognised.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, null, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import holders
from storage.models import ZaloInboxRow

LEASE = timedelta(minutes=5)  # far longer than handling one event takes
KEEP_DONE = timedelta(days=3)  # longer than the oldest event accepted (a day): a redelivery is recognised


async def take(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    chat_id: str,
    payload: dict[str, Any],
    now: datetime,
    busy: Collection[str] = (),
) -> bool:
    """Store an event not seen before, or take back one stored earlier that nobody handles (its
    process died); whether the caller must handle it. The caller commits."""
    holder = holders.mine(session)
    row = {
        "key": key,
        "channel": channel,
        "chat_id": chat_id,
        "payload": payload,
        "received_at": now,
        "lease_until": now + LEASE,
        "holder": holder,
    }
    dialect = postgresql if _is_postgres(session) else sqlite
    inserted = await session.exec(
        dialect.insert(ZaloInboxRow).values(row).on_conflict_do_nothing().returning(ZaloInboxRow.key)
    )
    if inserted.first() is not None:
        return True
    if key in busy:
        return False
    result = await session.exec(
        update(ZaloInboxRow)
        .where(col(ZaloInboxRow.key) == key, col(ZaloInboxRow.done_at).is_(None), await _free(session, now))
        .values(lease_until=now + LEASE, holder=holder, payload=payload)
    )
    return bool(result.rowcount)


async def unfinished(
    session: AsyncSession,
    channel: str,
    now: datetime,
    *,
    starting: bool,
    busy: Collection[str] = (),
    limit: int = 1000,
) -> list[ZaloInboxRow]:
    """Take a channel's rows not done that nobody handles, in arrival order, and return them (the
    caller commits). With one process (SQLite), at start-up every row not done is left over from
    the last run; otherwise only rows that are free (see the module docstring)."""
    statement = (
        select(ZaloInboxRow)
        .where(
            ZaloInboxRow.channel == channel, col(ZaloInboxRow.done_at).is_(None), col(ZaloInboxRow.payload).is_not(None)
        )
        .order_by(col(ZaloInboxRow.id))
        .limit(limit)
    )
    if busy:
        statement = statement.where(col(ZaloInboxRow.key).not_in(busy))
    if _is_postgres(session):
        statement = statement.with_for_update(skip_locked=True).where(await _free(session, now))
    elif not starting:
        statement = statement.where(await _free(session, now))
    rows = list((await session.exec(statement)).all())
    for row in rows:
        row.lease_until, row.holder = now + LEASE, holders.mine(session)
    return rows


async def earlier_not_done(session: AsyncSession, channel: str, chat_id: str, key: str) -> list[str]:
    """The keys of the chat's events stored before `key` and not done yet, oldest first: whoever
    handles `key` waits for them (they may be in another process's hands)."""
    mine = select(ZaloInboxRow.id).where(ZaloInboxRow.key == key).scalar_subquery()
    statement = (
        select(ZaloInboxRow.key)
        .where(
            ZaloInboxRow.channel == channel,
            ZaloInboxRow.chat_id == chat_id,
            col(ZaloInboxRow.id) < mine,
            col(ZaloInboxRow.done_at).is_(None),
        )
        .order_by(col(ZaloInboxRow.id))
    )
    return list((await session.exec(statement)).all())


async def mark_done(session: AsyncSession, keys: Collection[str], now: datetime) -> None:
    """Handled: forget the content, keep the key (the caller commits)."""
    if keys:
        await session.exec(
            update(ZaloInboxRow)
            .where(col(ZaloInboxRow.key).in_(sorted(keys)))
            .values(done_at=now, payload=null(), lease_until=None, holder=None)
        )


async def prune(session: AsyncSession, now: datetime, keep: timedelta = KEEP_DONE) -> int:
    """Delete the keys of events done more than `keep` ago; return how many (the caller commits)."""
    result = await session.exec(delete(ZaloInboxRow).where(col(ZaloInboxRow.done_at) < now - keep))
    return result.rowcount or 0


async def _free(session: AsyncSession, now: datetime) -> Any:
    """Rows nobody handles: their holder is gone (PostgreSQL), or they have none and the lease ended."""
    ended = or_(col(ZaloInboxRow.lease_until).is_(None), col(ZaloInboxRow.lease_until) <= now)
    if not _is_postgres(session):
        return ended
    return or_(and_(col(ZaloInboxRow.holder).is_(None), ended), await holders.gone(session, col(ZaloInboxRow.holder)))


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"
