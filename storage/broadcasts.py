"""Broadcasts: targeting subscribed citizens and fanning a notice out into the outbox.

Fan-out is one INSERT … SELECT, with one outbox row per (broadcast, citizen) guarded by a unique
key, so a broadcast can never be queued twice, whatever the number of recipients or processes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, func, insert, literal, or_, update
from sqlalchemy import select as select_columns
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import tally
from storage.models import Area, Broadcast, BroadcastStatus, Citizen, OutboxMessage, OutboxStatus
from storage.outbox import PRIORITY_BULK, PRIORITY_REPLY
from storage.types import UTCDateTime

TARGET_KEYS = ("areas", "statuses", "locales")


def stored_target(target: dict) -> dict[str, list]:
    """A target as it is stored: every key of TARGET_KEYS, each a list."""
    return {key: list(target.get(key) or []) for key in TARGET_KEYS}


def audience(target: dict, default_locale: str) -> ColumnElement[bool]:
    """Who a target reaches: subscribed, consenting, reachable citizens in the target's areas (a
    province means all its communes), household statuses and languages."""
    conditions: list[ColumnElement[bool]] = [
        col(Citizen.subscribed).is_(True),
        col(Citizen.unreachable_at).is_(None),
        col(Citizen.consent_at).is_not(None),
    ]
    areas = list(target.get("areas") or [])
    if areas:
        children = select(Area.code).where(col(Area.parent_code).in_(areas))
        conditions.append(or_(col(Citizen.area_code).in_(areas), col(Citizen.area_code).in_(children)))
    statuses = list(target.get("statuses") or [])
    if statuses:
        conditions.append(col(Citizen.household_status).in_(statuses))
    locales = list(target.get("locales") or [])
    if locales:
        conditions.append(func.coalesce(Citizen.locale, default_locale).in_(locales))
    return and_(*conditions)


async def count_recipients(session: AsyncSession, target: dict, default_locale: str) -> int:
    """How many citizens a target reaches now (the preview before sending)."""
    result = await session.exec(select(func.count()).select_from(Citizen).where(audience(target, default_locale)))
    return int(result.one())


async def create_broadcast(
    session: AsyncSession,
    *,
    texts: dict[str, str],
    target: dict,
    send_at: datetime,
    now: datetime,
    urgent: bool = False,
    author: str = "",
    author_staff_id: int | None = None,
    image: str | None = None,
    buttons: list | None = None,
    campaign: str | None = None,
    occurrence_key: str | None = None,
) -> Broadcast:
    """Record a broadcast to be queued at `send_at` (the caller commits)."""
    if not texts.get("vi"):
        raise ValueError("a broadcast needs a Vietnamese text")
    broadcast = Broadcast(
        texts=texts,
        target=stored_target(target),
        send_at=send_at,
        urgent=urgent,
        author=author,
        author_staff_id=author_staff_id,
        image=image,
        buttons=list(buttons or []),
        campaign=campaign,
        occurrence_key=occurrence_key,
        created_at=now,
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


def payload(broadcast: Broadcast, locale: str, stop_label: str) -> dict:
    """What one recipient gets: the text in their language (else Vietnamese), the broadcast's
    buttons (rows of {"labels": {locale: label}, "action"}), and a one-tap "stop notices" button."""
    rows = [
        [
            {"label": button["labels"].get(locale) or button["labels"]["vi"], "action": button["action"]}
            for button in row
        ]
        for row in broadcast.buttons
    ] + [[{"label": stop_label, "action": "menu:unsubscribe"}]]
    return {"text": broadcast.texts.get(locale) or broadcast.texts["vi"], "image": broadcast.image, "buttons": rows}


async def claim_due(session: AsyncSession, now: datetime) -> list[Broadcast]:
    """Scheduled broadcasts whose time has come, marked queued by this caller alone (several
    processes may look at once: only the one whose update changes the row gets it)."""
    due = (
        await session.exec(
            select(Broadcast).where(Broadcast.status == BroadcastStatus.scheduled, col(Broadcast.send_at) <= now)
        )
    ).all()
    claimed = []
    for broadcast in due:
        result = await session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast.id, col(Broadcast.status) == BroadcastStatus.scheduled)
            .values(status=BroadcastStatus.queued, queued_at=now)
        )
        if result.rowcount:
            claimed.append(broadcast)
    return claimed


async def fan_out(
    session: AsyncSession, broadcast: Broadcast, *, now: datetime, default_locale: str, stop_labels: dict[str, str]
) -> int:
    """Queue one outbox row per recipient (skipping any already queued); return how many."""
    locale = func.coalesce(Citizen.locale, default_locale)
    payloads = {
        code: json.dumps(payload(broadcast, code, label), ensure_ascii=False) for code, label in stop_labels.items()
    }
    body: ColumnElement[Any] = case(
        *((locale == code, literal(text)) for code, text in payloads.items()), else_=literal(payloads["vi"])
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        body = cast(body, JSONB)
    key = literal(f"broadcast:{broadcast.id}:") + cast(Citizen.id, String)
    already = select(OutboxMessage.dedupe_key).where(OutboxMessage.broadcast_id == broadcast.id)
    # Typed like the columns, so `now` is stored in UTC whatever its zone (a plain DateTime literal
    # would keep the local wall time on SQLite, which stores no zone).
    at = literal(now, UTCDateTime())
    recipients = select_columns(
        col(Citizen.id),
        col(Citizen.channel),
        col(Citizen.channel_user_id),
        body,
        literal(PRIORITY_REPLY if broadcast.urgent else PRIORITY_BULK),
        literal(OutboxStatus.pending.value),
        literal(0),
        at,
        key,
        literal(broadcast.id),
        literal(not broadcast.urgent),
        at,
        func.coalesce(Citizen.area_code, ""),
    ).where(audience(broadcast.target, default_locale), key.not_in(already))
    columns = [
        "citizen_id",
        "channel",
        "chat_id",
        "payload",
        "priority",
        "status",
        "attempts",
        "next_attempt_at",
        "dedupe_key",
        "broadcast_id",
        "bulk",
        "created_at",
        "area_code",
    ]
    result = await session.exec(insert(OutboxMessage).from_select(columns, recipients))
    count = int(result.rowcount or 0)
    broadcast.recipients += count
    return count


async def status_counts(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """How many of a broadcast's messages are in each outbox status (and why skipped/failed), from
    the counters (storage/tally.py)."""
    counts: dict[str, int] = {}
    for (status, reason), count in sorted(
        (await tally.counts(session, ("status", "reason"), broadcast_ids=[broadcast_id])).items()
    ):
        counts[status] = counts.get(status, 0) + count
        if reason:
            counts[f"{status}:{reason}"] = count
    return counts


async def cancel(session: AsyncSession, broadcast: Broadcast) -> int:
    """Stop a broadcast: nothing more is queued or sent; return how many queued messages were dropped."""
    broadcast.status = BroadcastStatus.cancelled
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.broadcast_id) == broadcast.id, col(OutboxMessage.status) == OutboxStatus.pending)
        .values(status=OutboxStatus.skipped, reason="cancelled")
    )
    return int(result.rowcount or 0)


async def finish_done(session: AsyncSession) -> int:
    """Mark queued broadcasts with nothing left pending or in flight as done."""
    busy = select(OutboxMessage.broadcast_id).where(
        col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]),
        col(OutboxMessage.broadcast_id).is_not(None),
    )
    result = await session.exec(
        update(Broadcast)
        .where(col(Broadcast.status) == BroadcastStatus.queued, col(Broadcast.id).not_in(busy))
        .values(status=BroadcastStatus.done)
    )
    return int(result.rowcount or 0)
