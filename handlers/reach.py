"""Queuing a message to one citizen's chat through the outbox, unless the chat is known to be
unreachable: the steps every feature that writes to a citizen outside a conversation shares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.i18n import Catalogs, Translator
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


async def tell(
    session: AsyncSession,
    catalogs: Catalogs,
    citizen_id: int | None,
    message: Callable[[Translator], dict],
    *,
    dedupe_key: str,
    now: datetime,
) -> OutboxMessage | None:
    """Queue a reply-priority message in the citizen's language (`message` builds its payload with
    their translator); None when they cannot be reached or `dedupe_key` was queued already."""
    citizen = await reachable(session, citizen_id)
    if citizen is None:
        return None
    payload = message(catalogs.get(citizen.locale))
    return await queue_to(session, citizen, payload, priority=outbox.PRIORITY_REPLY, dedupe_key=dedupe_key, now=now)
