"""Repository of the outbox: messages that are not direct replies wait here until delivered.

Rows move pending → sending → sent | failed | skipped. A row left in `sending` by a killed process
is put back to pending at start-up, so at most the messages in flight at that moment repeat.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import holders
from storage.core import table_of
from storage.models import Citizen, OutboxMessage, OutboxStatus

PRIORITY_REPLY = 1
PRIORITY_REMINDER = 3
PRIORITY_BULK = 5
IN_FLIGHT_LEASE = timedelta(minutes=2)  # longer than any one delivery, 429 pauses included


@dataclass(frozen=True)
class ReplyWindow:
    """A platform that lets the bot write only for a while after the recipient's last message
    (Zalo Official Account: 7 days, and only the first 48 hours free). Messages outside it are
    skipped with `reason`; those sent after `free` are marked with `charged` (sent:<charged>)."""

    length: timedelta
    reason: str
    free: timedelta | None = None
    charged: str = ""


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: str,
    payload: dict,
    now: datetime,
    citizen_id: int | None = None,
    priority: int = PRIORITY_BULK,
    dedupe_key: str | None = None,
) -> OutboxMessage | None:
    """Queue a message; with a `dedupe_key` already queued, do nothing and return None."""
    message = OutboxMessage(
        citizen_id=citizen_id,
        channel=channel,
        chat_id=chat_id,
        payload=payload,
        priority=priority,
        next_attempt_at=now,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    if dedupe_key is None:
        session.add(message)
        await session.flush()
        return message
    # One statement: two processes queueing the same key (a reminder, say) never both insert, and
    # the loser is not left with a failed transaction.
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    table = table_of(OutboxMessage)
    inserted = (
        await session.exec(
            dialect.insert(table)
            .values(**message.model_dump(exclude={"id"}))
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(table.c.id)
        )
    ).first()
    return None if inserted is None else await session.get(OutboxMessage, inserted[0])


async def claim(
    session: AsyncSession,
    channel: str,
    now: datetime,
    limit: int = 20,
    *,
    include_bulk: bool = True,
    window: ReplyWindow | None = None,
) -> list[OutboxMessage]:
    """Mark the next due messages of a channel as `sending` and return them (the caller commits).

    Bulk notices wait while `include_bulk` is false (quiet hours). A notice whose citizen has
    unsubscribed or become unreachable since it was queued is skipped instead, and so is any
    message to a chat of `window`'s channel that has not written within the window.
    """
    statement = (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
        .limit(limit)
    )
    if not include_bulk:
        statement = statement.where(col(OutboxMessage.bulk).is_(False))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    messages = list((await session.exec(statement)).all())
    opted_out = await _opted_out(session, [m.citizen_id for m in messages if m.broadcast_id and m.citizen_id])
    chats = [m.chat_id for m in messages]
    closed = await _window_closed(session, channel, chats, now - window.length) if window else set()
    paid = (
        await _window_closed(session, channel, chats, now - window.free) - closed
        if window and window.free is not None and window.free < window.length
        else set()
    )
    claimed = []
    for message in messages:
        if message.broadcast_id and message.citizen_id in opted_out:
            mark_failed(message, "unsubscribed", skipped=True)
            continue
        if window is not None and message.chat_id in closed:
            mark_failed(message, window.reason, skipped=True)
            continue
        if window is not None:  # the platform charges for it: counted as sent:<charged> once sent
            message.reason = window.charged if message.chat_id in paid else None
        message.status = OutboxStatus.sending
        message.attempts += 1
        # While `sending`, next_attempt_at is the end of this claim's lease: a row still sending
        # after it belongs to a process that died, and any sender may claim it again.
        message.next_attempt_at = now + IN_FLIGHT_LEASE
        message.holder = holders.mine(session)
        claimed.append(message)
    return claimed


async def _opted_out(session: AsyncSession, citizen_ids: list[int]) -> set[int]:
    """Which of these citizens no longer want or can receive notices."""
    if not citizen_ids:
        return set()
    result = await session.exec(
        select(Citizen.id).where(
            col(Citizen.id).in_(citizen_ids),
            or_(col(Citizen.subscribed).is_(False), col(Citizen.unreachable_at).is_not(None)),
        )
    )
    return {citizen_id for citizen_id in result.all() if citizen_id is not None}


async def _window_closed(session: AsyncSession, channel: str, chat_ids: list[str], since: datetime) -> set[str]:
    """Which of these chats have not written since `since` (a chat never heard from has not)."""
    if not chat_ids:
        return set()
    result = await session.exec(
        select(Citizen.channel_user_id).where(
            Citizen.channel == channel,
            col(Citizen.channel_user_id).in_(set(chat_ids)),
            col(Citizen.last_seen_at) >= since,
        )
    )
    return set(chat_ids) - set(result.all())


async def pending_for(session: AsyncSession, channel: str, chat_id: str, now: datetime) -> list[OutboxMessage]:
    """Messages waiting for one chat on a pull channel (the web chat page fetches them)."""
    result = await session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status == OutboxStatus.pending,
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .order_by(col(OutboxMessage.id))
    )
    return list(result.all())


def mark_sent(message: OutboxMessage, now: datetime) -> None:
    """Delivered."""
    message.status = OutboxStatus.sent
    message.sent_at = now
    message.error = None


async def mark_sent_many(session: AsyncSession, message_ids: Collection[int], now: datetime) -> None:
    """Delivered, for several messages in one statement (as `mark_sent`; rows gone meanwhile are ignored)."""
    if message_ids:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(sorted(message_ids)))
            .values(status=OutboxStatus.sent, sent_at=now, error=None)
        )


def mark_retry(
    message: OutboxMessage, now: datetime, delay: timedelta, error: str, *, count_attempt: bool = True
) -> None:
    """Try again after `delay` (a rate-limit wait does not count as an attempt)."""
    message.status = OutboxStatus.pending
    message.next_attempt_at = now + delay
    message.error = error[:1000]
    if not count_attempt:
        message.attempts -= 1


def mark_failed(message: OutboxMessage, reason: str, error: str = "", *, skipped: bool = False) -> None:
    """Give up: a permanent error (failed) or a message that must not go (skipped)."""
    message.status = OutboxStatus.skipped if skipped else OutboxStatus.failed
    message.reason = reason[:200]
    message.error = error[:1000] or None


async def release_in_flight(session: AsyncSession, now: datetime) -> int:
    """Put messages left `sending` by a stopped process back to pending, due now; return how many.

    SQLite has one sender, so at its start every `sending` row is left over. On PostgreSQL other
    processes may be sending right now: their rows are left alone. A dead process's rows are put
    back here when their holder is gone (storage.holders), and are otherwise claimed again by any
    sender once their lease ends.
    """
    statement = update(OutboxMessage).where(col(OutboxMessage.status) == OutboxStatus.sending)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        statement = statement.where(
            or_(col(OutboxMessage.next_attempt_at) <= now, await holders.gone(session, col(OutboxMessage.holder)))
        )
    result = await session.exec(statement.values(status=OutboxStatus.pending, next_attempt_at=now))
    return result.rowcount or 0
