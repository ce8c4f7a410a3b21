"""Outbox rows written and read each in their own transaction, for the outbox tests on either database."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import outbox
from storage.db import SessionFactory
from storage.models import OutboxMessage

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


async def queue(
    sessions: SessionFactory, chat_id: str, text: str | None = None, *, now: datetime = T0, channel: str = "telegram",
    priority: int = outbox.PRIORITY_BULK, citizen_id: int | None = None, dedupe_key: str | None = None,
    payload: dict | None = None,
) -> int | None:
    """Queue one message (`payload`, else `text`, else the chat id as its text) in its own transaction;
    its id, or None when deduplicated."""
    async with sessions() as session:
        message = await outbox.enqueue(
            session, channel=channel, chat_id=chat_id, payload=payload or {"text": chat_id if text is None else text},
            now=now, priority=priority, citizen_id=citizen_id, dedupe_key=dedupe_key,
        )
        await session.commit()
    return message.id if message else None


async def load(sessions: SessionFactory, message_id: int | None) -> OutboxMessage:
    """The stored outbox row, freshly read."""
    async with sessions() as session:
        message = await session.get(OutboxMessage, message_id)
    assert message is not None
    return message
