"""Repository functions. They take a session and never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Area, Citizen, Conversation, OutboxMessage, ZaloInboxRow

# Built once: building a select of SQLModel classes costs more than running it on SQLite.
_CITIZEN_FOR_TURN = (
    select(Citizen, Conversation)
    .outerjoin(Conversation, col(Conversation.citizen_id) == col(Citizen.id))
    .where(Citizen.channel == bindparam("channel"), Citizen.channel_user_id == bindparam("user"))
)


async def get_or_create_citizen(
    session: AsyncSession, channel: str, channel_user_id: str, *, now: datetime
) -> tuple[Citizen, bool]:
    """Find the citizen for this channel user, creating an empty one; return (citizen, created)."""
    citizen = await find_citizen(session, channel, channel_user_id)
    if citizen is not None:
        return citizen, False
    citizen = Citizen(channel=channel, channel_user_id=channel_user_id, created_at=now, last_seen_at=now)
    session.add(citizen)
    await session.flush()
    return citizen, True


async def citizen_for_turn(
    session: AsyncSession, channel: str, channel_user_id: str, *, now: datetime
) -> tuple[Citizen, Conversation | None, Conversation | None]:
    """The citizen (created if new), their live conversation state and their stored state row,
    live or expired: one query for a known citizen instead of one per table."""
    result = await session.exec(_CITIZEN_FOR_TURN, params={"channel": channel, "user": channel_user_id})
    found = result.first()
    if found is None:
        citizen, _created = await get_or_create_citizen(session, channel, channel_user_id, now=now)
        return citizen, None, None
    citizen, row = found
    return citizen, _live(row, now), row


async def find_citizen(session: AsyncSession, channel: str, channel_user_id: str) -> Citizen | None:
    """The citizen for this channel user, if any."""
    result = await session.exec(
        select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == channel_user_id)
    )
    return result.first()


async def delete_citizen(session: AsyncSession, citizen_id: int) -> None:
    """Delete a citizen and everything that hangs off them, and their chat id wherever it remains:
    outbox rows queued without a citizen (replies a platform refused for a while, bot/channels/unsent.py),
    and Zalo inbox rows (handled ones are deleted; the ones still being handled keep only their content,
    dropped once handled)."""
    citizen = await session.get(Citizen, citizen_id)
    if citizen is not None:
        chat = (col(OutboxMessage.channel) == citizen.channel, col(OutboxMessage.chat_id) == citizen.channel_user_id)
        await session.exec(delete(OutboxMessage).where(*chat))
        inbox = (col(ZaloInboxRow.channel) == citizen.channel, col(ZaloInboxRow.chat_id) == citizen.channel_user_id)
        await session.exec(delete(ZaloInboxRow).where(*inbox, col(ZaloInboxRow.done_at).is_not(None)))
        await session.exec(update(ZaloInboxRow).where(*inbox).values(chat_id=""))
    await session.exec(delete(OutboxMessage).where(col(OutboxMessage.citizen_id) == citizen_id))
    await session.exec(delete(Conversation).where(col(Conversation.citizen_id) == citizen_id))
    await session.exec(delete(Citizen).where(col(Citizen.id) == citizen_id))


async def load_conversation(session: AsyncSession, citizen_id: int, *, now: datetime) -> Conversation | None:
    """The citizen's live conversation state; an expired one counts as none."""
    return _live(await session.get(Conversation, citizen_id), now)


def _live(conversation: Conversation | None, now: datetime) -> Conversation | None:
    """The state row unless it has expired."""
    if conversation is None or (conversation.expires_at is not None and conversation.expires_at <= now):
        return None
    return conversation


async def save_conversation(
    session: AsyncSession, citizen_id: int, state: str, data: dict, *, now: datetime, ttl: timedelta
) -> None:
    """Store the citizen's state (insert or update)."""
    put_conversation(session, await session.get(Conversation, citizen_id), citizen_id, state, data, now=now, ttl=ttl)


def put_conversation(
    session: AsyncSession,
    row: Conversation | None,
    citizen_id: int,
    state: str,
    data: dict,
    *,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Store the citizen's state into `row`, the state row already loaded (live or expired), or a
    new row when the citizen has none."""
    conversation = row
    if conversation is None:
        conversation = Conversation(citizen_id=citizen_id, state=state, data=data, updated_at=now)
        session.add(conversation)
    conversation.state = state
    conversation.data = dict(data)
    conversation.updated_at = now
    conversation.expires_at = now + ttl


async def upsert_areas(session: AsyncSession, areas: Iterable[Area]) -> int:
    """Insert or update areas by code (parents first); return how many were written."""
    count = 0
    for area in areas:
        existing = await session.get(Area, area.code)
        if existing is None:
            session.add(Area.model_validate(area.model_dump()))
        else:
            existing.sqlmodel_update(area.model_dump(exclude={"code"}))
        count += 1
        await session.flush()
    return count


async def list_areas(session: AsyncSession) -> list[Area]:
    """Every area, ordered by code."""
    result = await session.exec(select(Area).order_by(Area.code))
    return list(result.all())
