"""Notice delivery counters: what became of a notice's messages, without counting the outbox.

Database triggers on `outbox` (migration 0023) write one `notice_tally_change` row whenever a
notice's message is queued, changes status or reason, or is deleted, in the same transaction as the
change itself: a killed process or a retried delivery leaves the journal exactly as right as the
outbox. `fold` moves the journal into `notice_tally` (one row per notice, commune, hour queued,
status and reason) in one transaction; the scheduler runs it every few seconds. Only the fold
writes `notice_tally`, and only with rows it has just deleted from the journal, so several
processes folding at once never count a change twice, and senders never wait on a counter's lock.

Readers add the two in one statement (one snapshot, so a fold committing meanwhile is seen
entirely or not at all): the counts are the outbox's `GROUP BY` at every moment.

The citizens a notice reached (distinct over several notices, so no counter can give it) are read
from the index `ix_outbox_notice_reach` alone, for the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import table_of
from storage.models import NoticeTally, NoticeTallyChange, OutboxMessage, OutboxStatus

FOLD_BATCH = 20_000
DIMENSIONS = ("broadcast_id", "area_code", "hour", "status", "reason")


async def fold(session: AsyncSession, limit: int = FOLD_BATCH) -> int:
    """Move up to `limit` journal rows into the counters and commit; return how many were moved."""
    journal = table_of(NoticeTallyChange)
    oldest = select(journal.c.id).order_by(journal.c.id).limit(limit).scalar_subquery()
    # Deleting first: a second process folding at once waits for these rows and then finds them gone.
    connection = await session.connection()
    rows = (
        await connection.execute(
            delete(journal)
            .where(journal.c.id.in_(oldest))
            .returning(
                journal.c.broadcast_id,
                journal.c.area_code,
                journal.c.hour,
                journal.c.old_status,
                journal.c.old_reason,
                journal.c.new_status,
                journal.c.new_reason,
            )
        )
    ).all()
    deltas: dict[tuple[Any, ...], int] = defaultdict(int)
    for broadcast_id, area, hour, old_status, old_reason, new_status, new_reason in rows:
        if old_status is not None:
            deltas[(broadcast_id, area, hour, old_status, old_reason or "")] -= 1
        if new_status is not None:
            deltas[(broadcast_id, area, hour, new_status, new_reason or "")] += 1
    changed = [dict(zip(DIMENSIONS, key, strict=True), count=delta) for key, delta in sorted(deltas.items()) if delta]
    if changed:
        table = table_of(NoticeTally)
        dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table)
        await connection.execute(
            insert.on_conflict_do_update(
                index_elements=list(DIMENSIONS), set_={"count": table.c.count + insert.excluded.count}
            ),
            changed,
        )
    await session.commit()
    return len(rows)


async def fold_all(session: AsyncSession, limit: int = FOLD_BATCH) -> int:
    """Fold the whole journal, a batch per transaction; return how many rows were moved."""
    moved = 0
    while (done := await fold(session, limit)) > 0:
        moved += done
    return moved


def _filters(
    columns: Any,
    broadcast_ids: Collection[int] | None,
    start: datetime | None,
    end: datetime | None,
    areas: Collection[str] | None,
    statuses: Collection[str] | None,
    status: Any,
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if broadcast_ids is not None:
        found.append(columns.broadcast_id.in_(sorted(broadcast_ids)))
    if start is not None:
        found.append(columns.hour >= start)
    if end is not None:
        found.append(columns.hour < end)
    if areas is not None:
        found.append(columns.area_code.in_(sorted(areas)))
    if statuses is not None:
        found.append(status.in_(sorted(statuses)))
    return found


async def counts(
    session: AsyncSession,
    by: Sequence[str],
    *,
    broadcast_ids: Collection[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    areas: Collection[str] | None = None,
    statuses: Collection[str] | None = None,
) -> dict[tuple[Any, ...], int]:
    """Notice messages counted by the `by` dimensions (of broadcast_id, area_code, hour, status,
    reason), for the given notices, hours queued [start, end), communes and statuses; no zeros."""
    if broadcast_ids is not None and not broadcast_ids or areas is not None and not areas:
        return {}
    tally = table_of(NoticeTally)
    journal = table_of(NoticeTallyChange)
    filters = partial(_filters, broadcast_ids=broadcast_ids, start=start, end=end, areas=areas, statuses=statuses)

    def side(status: Any, reason: Any, sign: int) -> Select[Any]:
        base = {
            "broadcast_id": journal.c.broadcast_id,
            "area_code": journal.c.area_code,
            "hour": journal.c.hour,
            "status": status,
            "reason": func.coalesce(reason, ""),
        }
        return select(*[base[name].label(name) for name in by], literal(sign).label("n")).where(
            status.is_not(None), *filters(journal.c, status=status)
        )

    stored = select(*[tally.c[name].label(name) for name in by], tally.c.count.label("n")).where(
        *filters(tally.c, status=tally.c.status)
    )
    parts = union_all(
        stored,
        side(journal.c.new_status, journal.c.new_reason, 1),
        side(journal.c.old_status, journal.c.old_reason, -1),
    ).subquery()
    rows = (
        await (await session.connection()).execute(
            select(*[parts.c[name] for name in by], func.sum(parts.c.n)).group_by(*[parts.c[name] for name in by])
        )
    ).all()
    return {tuple(row[:-1]): int(row[-1]) for row in rows if row[-1]}


async def citizens_reached(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    areas: Collection[str] | None = None,
) -> int:
    """How many different citizens received at least one notice queued in [start, end), in `areas`.

    Read from the index (broadcast, commune, status, citizen); only a notice whose messages were
    queued partly inside the period, partly outside (queued again for newcomers), is read row by
    row for the time each message was queued."""
    hours = await counts(
        session, ("broadcast_id", "hour"), start=None, end=None, areas=areas, statuses=[OutboxStatus.sent]
    )
    inside: set[int] = set()
    outside: set[int] = set()
    for broadcast_id, hour in hours:
        (inside if start <= hour < end else outside).add(broadcast_id)
    if not inside:
        return 0
    whole, partly = sorted(inside - outside), sorted(inside & outside)
    sent = [col(OutboxMessage.status) == OutboxStatus.sent]
    if areas is not None:
        sent.append(col(OutboxMessage.area_code).in_(sorted(areas)))
    queries = []
    if whole:
        queries.append(select(col(OutboxMessage.citizen_id)).where(col(OutboxMessage.broadcast_id).in_(whole), *sent))
    if partly:
        queries.append(
            select(col(OutboxMessage.citizen_id)).where(
                col(OutboxMessage.broadcast_id).in_(partly),
                col(OutboxMessage.created_at) >= start,
                col(OutboxMessage.created_at) < end,
                *sent,
            )
        )
    reached = union_all(*queries).subquery() if len(queries) > 1 else queries[0].subquery()
    return int(
        (
            await (await session.connection()).execute(
                select(func.count(func.distinct(reached.c.citizen_id))).where(reached.c.citizen_id.is_not(None))
            )
        ).scalar_one()
    )
