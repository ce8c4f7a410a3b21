"""Queuing a message to one citizen's chat through the outbox, unless the chat is known to be
unreachable: the steps every feature that writes to a citizen outside a conversation shares."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import outbox
from storage.models import Citizen, OutboxMessage


async def reachable(session: AsyncSession, citizen_id: int | None) -> Citizen | None:
    """The citizen, or None when there is none or their chat is known to be unreachable."""
    citizen = await session.get(Citizen, citizen_id) if citizen_id else None
    return None if citizen is None or citizen.unreachable_at is not None else citizen


async def queue_to(
    session: AsyncSession, citizen: Citizen, payload: dict, *, priority: int, dedupe_key: str, now: datetime
) -> OutboxMessage | None:
    """Queue one message to the citizen's chat; None when `dedupe_key` was queued already."""
    return await outbox.enqueue(
        session,
        channel=citizen.channel,
        chat_id=citizen.channel_user_id,
        citizen_id=citizen.id,
        payload=payload,
        priority=priority,
        dedupe_key=dedupe_key,
        now=now,
    )
