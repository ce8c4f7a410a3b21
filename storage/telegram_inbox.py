"""Repository of the Telegram inbox: an update is stored here before Telegram is told it arrived
(the next getUpdates offset, or the webhook's answer), handled, then marked done.

Whoever stores or takes a row holds it for LEASE; a row not done whose lease has ended belongs to a
process that died and may be taken again, and so does one whose holder is gone (storage.holders). A
done row loses its content at once (it held what the citizen wrote) and its id is kept for
KEEP_DONE, so that a redelivery of the update is recognised."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, null, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import holders
from storage.models import TelegramInboxRow

LEASE = timedelta(minutes=5)  # far longer than handling one update takes
KEEP_DONE = timedelta(days=2)  # Telegram gives up redelivering an update long before


async def take(
    session: AsyncSession, updates: Sequence[tuple[int, dict[str, Any]]], now: datetime, *, busy: Collection[int] = ()
) -> list[int]:
    """Store the updates (id, content) not seen before and return, in order, the ids the caller must
    handle: the new ones, and those stored earlier, not done, whose lease has ended (the process
    handling them died) and that are not `busy` in this process. The caller commits."""
    if not updates:
        return []
    ids = [update_id for update_id, _ in updates]
    holder = holders.mine(session)
    rows = [
        {"update_id": update_id, "payload": payload, "received_at": now, "lease_until": now + LEASE, "holder": holder}
        for update_id, payload in updates
    ]
    dialect = postgresql if _is_postgres(session) else sqlite
    inserted = await session.exec(
        dialect.insert(TelegramInboxRow).values(rows).on_conflict_do_nothing().returning(TelegramInboxRow.update_id)
    )
    taken = set(inserted.scalars().all())
    for update_id in ids:
        if update_id in taken or update_id in busy:
            continue
        result = await session.exec(
            update(TelegramInboxRow)
            .where(
                col(TelegramInboxRow.update_id) == update_id,
                col(TelegramInboxRow.done_at).is_(None),
                or_(col(TelegramInboxRow.lease_until).is_(None), col(TelegramInboxRow.lease_until) <= now),
            )
            .values(lease_until=now + LEASE, holder=holder)
        )
        if result.rowcount:
            taken.add(update_id)
    return [update_id for update_id in ids if update_id in taken]


async def unfinished(
    session: AsyncSession, now: datetime, *, starting: bool, busy: Collection[int] = (), limit: int = 1000
) -> list[TelegramInboxRow]:
    """Take rows not done, oldest first, and return them (the caller commits).

    With one process (SQLite), at start-up every row not done is left over from the last run. On
    PostgreSQL other processes may be handling theirs right now: only rows whose lease has ended or
    whose holder is gone are taken, then and on every later look.
    """
    statement = (
        select(TelegramInboxRow)
        .where(col(TelegramInboxRow.done_at).is_(None), col(TelegramInboxRow.payload).is_not(None))
        .order_by(col(TelegramInboxRow.update_id))
        .limit(limit)
    )
    if busy:
        statement = statement.where(col(TelegramInboxRow.update_id).not_in(busy))
    ended = or_(col(TelegramInboxRow.lease_until).is_(None), col(TelegramInboxRow.lease_until) <= now)
    if _is_postgres(session):
        statement = statement.with_for_update(skip_locked=True).where(
            or_(ended, await holders.gone(session, col(TelegramInboxRow.holder)))
        )
    elif not starting:
        statement = statement.where(ended)
    rows = list((await session.exec(statement)).all())
    for row in rows:
        row.lease_until, row.holder = now + LEASE, holders.mine(session)
    return rows


async def mark_done(session: AsyncSession, update_ids: Collection[int], now: datetime) -> None:
    """Handled: forget the content, keep the id (the caller commits)."""
    if update_ids:
        await session.exec(
            update(TelegramInboxRow)
            .where(col(TelegramInboxRow.update_id).in_(sorted(update_ids)))
            .values(done_at=now, payload=null(), lease_until=None)
        )


async def prune(session: AsyncSession, now: datetime, keep: timedelta = KEEP_DONE) -> int:
    """Delete the ids of updates done more than `keep` ago; return how many (the caller commits)."""
    result = await session.exec(delete(TelegramInboxRow).where(col(TelegramInboxRow.done_at) < now - keep))
    return result.rowcount or 0


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"
