"""Read-only views of broadcasts for the dashboard: a page of them in a staff member's area, and
their messages counted by outbox status.

Broadcast targets are JSON, which SQLite and PostgreSQL query differently; the area filter is a
portable text prefilter (the target cast to text holds each code in quotes), made exact in Python.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import String, cast, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import tally
from storage.models import Broadcast, OutboxStatus

PROGRESS_STATUSES = tuple(OutboxStatus)


def target_areas(broadcast: Broadcast) -> list[str]:
    """The area codes a broadcast targets (empty: the whole province)."""
    return [str(code) for code in (broadcast.target or {}).get("areas") or []]


def visible_to(broadcast: Broadcast, areas: Collection[str] | None) -> bool:
    """Whether staff limited to `areas` (None: everywhere) may see the broadcast: it must target
    only their areas, so a commune officer never sees another commune's notice or its figures."""
    if areas is None:
        return True
    targeted = target_areas(broadcast)
    return bool(targeted) and all(code in areas for code in targeted)


async def list_broadcasts(
    session: AsyncSession,
    areas: Collection[str] | None,
    *,
    before: int | None = None,
    limit: int = 30,
    campaign: str | None = None,
) -> list[Broadcast]:
    """The newest broadcasts visible to staff limited to `areas`, older than id `before`."""
    query = select(Broadcast).order_by(col(Broadcast.id).desc())
    if before is not None:
        query = query.where(col(Broadcast.id) < before)
    if campaign is not None:
        query = query.where(Broadcast.campaign == campaign)
    if areas is not None:
        if not areas:
            return []
        text = cast(Broadcast.target, String)
        query = query.where(or_(*[text.like(f'%"{code}"%') for code in sorted(areas)]))
    found: list[Broadcast] = []
    offset = 0
    while len(found) < limit:
        batch = list((await session.exec(query.offset(offset).limit(limit * 2))).all())
        found.extend(item for item in batch if visible_to(item, areas))
        if len(batch) < limit * 2:
            break
        offset += len(batch)
    return found[:limit]


async def counts_by_broadcast(session: AsyncSession, ids: Collection[int]) -> dict[int, dict[str, int]]:
    """For each broadcast id, how many of its messages are in each outbox status (from the counters)."""
    counts: dict[int, dict[str, int]] = {broadcast_id: {} for broadcast_id in ids}
    for (broadcast_id, status), count in (
        await tally.counts(session, ("broadcast_id", "status"), broadcast_ids=ids)
    ).items():
        counts[broadcast_id][status] = count
    return counts


def progress(counts: dict[str, int]) -> tuple[int, int]:
    """(finished, total) messages of a broadcast: sent, failed or skipped, out of all queued."""
    total = sum(counts.get(status, 0) for status in PROGRESS_STATUSES)
    pending = counts.get(OutboxStatus.pending, 0) + counts.get(OutboxStatus.sending, 0)
    return total - pending, total


async def latest_of_campaigns(session: AsyncSession, campaign_ids: Collection[str]) -> dict[str, Broadcast]:
    """The most recent broadcast each campaign made."""
    if not campaign_ids:
        return {}
    newest = (
        select(Broadcast.campaign, func.max(Broadcast.id).label("newest"))
        .where(col(Broadcast.campaign).in_(list(campaign_ids)))
        .group_by(Broadcast.campaign)
        .subquery()
    )
    rows = (await session.exec(select(Broadcast).join(newest, col(Broadcast.id) == newest.c.newest))).all()
    return {row.campaign: row for row in rows if row.campaign}
