"""Ticket queries for the staff dashboard's inbox: filters, pages, counts per status, exports.

Every query starts from `tickets.visible_to(staff)`, so a filter can narrow the staff member's
scope but never widen it. Never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.text import fold
from storage.models import OutboxMessage, SelfCheckRequest, Staff, StaffRole, Ticket, TicketStatus
from storage.ticket_rules import OPEN
from storage.tickets import in_scope, search_text_of, visible_to

UNASSIGNED = "none"
INDEX_BATCH = 500
SEARCH_WORDS = 8


@dataclass(frozen=True)
class InboxFilter:
    """What the staff member asked to see; empty fields do not filter.

    `status` is a TicketStatus value, "open" (new, assigned, in progress) or "" for all;
    `assignee` a staff id or UNASSIGNED; dates are local days, both ends included.
    """

    status: str = ""
    kind: str = ""
    topic: str = ""
    area: str = ""
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool = False
    assignee: str = ""
    query: str = ""
    selfcheck: bool = False  # only review requests sent after a household self-check


def search_key(ticket: Ticket) -> str:
    """The folded text a search matches: code, topic and message (never the sender's name)."""
    return search_text_of(ticket.code, ticket.topic, ticket.body)


async def search_pending(session: AsyncSession) -> bool:
    """Whether some ticket still has no search text (stored before tickets got it when created)."""
    return (await session.exec(select(Ticket.id).where(col(Ticket.search_text).is_(None)).limit(1))).first() is not None


async def index_pending(session: AsyncSession, limit: int = INDEX_BATCH) -> int:
    """Fill the search text of tickets that have none yet; returns how many.

    New tickets get it when created (`tickets.create_ticket`); this catches up on older ones."""
    pending = (await session.exec(select(Ticket).where(col(Ticket.search_text).is_(None)).limit(limit))).all()
    for ticket in pending:
        ticket.search_text = search_key(ticket)
        session.add(ticket)
    if pending:
        await session.flush()
    return len(pending)


def _status_condition(status: str) -> ColumnElement[bool] | None:
    if status == "open":
        return col(Ticket.status).in_([str(s) for s in OPEN])
    if status in TicketStatus.__members__:
        return col(Ticket.status) == status
    return None


def conditions(staff: Staff, chosen: InboxFilter, *, now: datetime, tz: ZoneInfo) -> list[ColumnElement[bool]]:
    """SQL conditions on Ticket for this staff member's scope and filter."""
    found: list[ColumnElement[bool]] = [visible_to(staff)]
    status = _status_condition(chosen.status)
    if status is not None:
        found.append(status)
    if chosen.kind:
        found.append(col(Ticket.kind) == chosen.kind)
    if chosen.topic:
        found.append(col(Ticket.topic) == chosen.topic)
    if chosen.area:
        found.append(col(Ticket.area_code) == chosen.area)
    if chosen.date_from is not None:
        found.append(col(Ticket.created_at) >= datetime.combine(chosen.date_from, time(0), tzinfo=tz))
    if chosen.date_to is not None:
        found.append(col(Ticket.created_at) < datetime.combine(chosen.date_to + timedelta(days=1), time(0), tzinfo=tz))
    if chosen.overdue:
        found.append(col(Ticket.status).in_([str(s) for s in OPEN]))
        found.append(col(Ticket.due_at) < now)
    if chosen.assignee == UNASSIGNED:
        found.append(col(Ticket.assignee_id).is_(None))
    elif chosen.assignee.isdigit():
        found.append(col(Ticket.assignee_id) == int(chosen.assignee))
    if chosen.selfcheck:
        found.append(col(Ticket.id).in_(select(SelfCheckRequest.ticket_id)))
    for word in fold(chosen.query).split()[:SEARCH_WORDS]:
        found.append(col(Ticket.search_text).contains(word))  # fold() leaves no % or _ to escape
    return found


def _searching(chosen: InboxFilter) -> bool:
    return bool(fold(chosen.query).split())


def _unindexed(column: Any, chosen: InboxFilter) -> Any:
    """`column`, or when searching the same value as an expression no index serves.

    Search words match anywhere in the text, which no index finds: every visible ticket is read
    once anyway. Walking an index on the sort or group column instead (what SQLite prefers) reads
    the tickets one lookup at a time, and to the end of the index when few match: 3-4 times slower."""
    return func.coalesce(column, column) if _searching(chosen) else col(column)


def _order(chosen: InboxFilter) -> list:
    """Open work soonest due first; anything else newest first."""
    if chosen.overdue or chosen.status == "open" or chosen.status in {str(s) for s in OPEN}:
        return [_unindexed(Ticket.due_at, chosen), col(Ticket.id)]
    return [_unindexed(Ticket.created_at, chosen).desc(), col(Ticket.id).desc()]


async def page(
    session: AsyncSession,
    staff: Staff,
    chosen: InboxFilter,
    *,
    now: datetime,
    tz: ZoneInfo,
    number: int = 1,
    size: int = 25,
) -> tuple[list[Ticket], dict[str, int]]:
    """One page of matching tickets, and how many match the filter in each status (its own status
    left out: see `status_counts`; `total_of` gives how many match in all)."""
    counts = await status_counts(session, staff, chosen, now=now, tz=tz)
    if not total_of(counts, chosen.status):
        return [], counts  # nothing to look for: a search need not scan again
    where = conditions(staff, chosen, now=now, tz=tz)
    query = select(Ticket).where(*where).order_by(*_order(chosen)).offset((max(number, 1) - 1) * size).limit(size)
    return list((await session.exec(query)).all()), counts


async def status_counts(
    session: AsyncSession,
    staff: Staff,
    chosen: InboxFilter,
    *,
    now: datetime,
    tz: ZoneInfo,
) -> dict[str, int]:
    """How many tickets match the filter in each status (the filter's own status left out)."""
    where = conditions(staff, replace(chosen, status=""), now=now, tz=tz)
    status = _unindexed(Ticket.status, chosen)
    query = select(status, func.count()).where(*where).group_by(status)
    counts = {str(status): 0 for status in TicketStatus}
    for status, count in (await session.exec(query)).all():
        counts[str(status)] = int(count)
    return counts


def total_of(counts: dict[str, int], status: str) -> int:
    """How many of the tickets counted per status (`status_counts`) the status filter keeps: the
    same number a count with the whole filter gives, without a second pass over the tickets."""
    if status == "open":
        return sum(counts.get(str(s), 0) for s in OPEN)
    if status in TicketStatus.__members__:
        return counts.get(status, 0)
    return sum(counts.values())


async def open_and_overdue(session: AsyncSession, areas: Collection[str] | None, now: datetime) -> tuple[int, int]:
    """How many open tickets there are in `areas` (None: everywhere), and how many of them are overdue:
    one pass over the open tickets."""
    late = func.sum(case((col(Ticket.due_at) < now, 1), else_=0))
    query = select(func.count(), late).select_from(Ticket).where(col(Ticket.status).in_([str(s) for s in OPEN]))
    if areas is not None:
        query = query.where(col(Ticket.area_code).in_(list(areas)))
    opened, overdue = (await session.exec(query)).one()
    return int(opened), int(overdue or 0)


async def matching(
    session: AsyncSession,
    staff: Staff,
    chosen: InboxFilter,
    *,
    now: datetime,
    tz: ZoneInfo,
    limit: int = 100_000,
) -> list[Ticket]:
    """Every matching ticket, oldest first (for exports)."""
    where = conditions(staff, chosen, now=now, tz=tz)
    query = select(Ticket).where(*where).order_by(col(Ticket.created_at), col(Ticket.id)).limit(limit)
    return list((await session.exec(query)).all())


async def staff_in_scope(session: AsyncSession, staff: Staff) -> list[Staff]:
    """Active accounts this staff member may filter by: everyone for the province, else their commune's
    officers and the province staff who also see it."""
    query = select(Staff).where(col(Staff.active).is_(True)).order_by(col(Staff.username))
    if staff.role == StaffRole.commune:
        query = query.where(or_(col(Staff.role) != StaffRole.commune, col(Staff.area_code) == staff.area_code))
    return list((await session.exec(query)).all())


async def assignable(session: AsyncSession, ticket: Ticket) -> list[Staff]:
    """Active accounts whose scope includes the ticket, commune officers of its commune first."""
    candidates = (
        await session.exec(select(Staff).where(col(Staff.active).is_(True)).order_by(col(Staff.username)))
    ).all()
    found = [staff for staff in candidates if in_scope(staff, ticket)]
    return sorted(found, key=lambda staff: staff.role != StaffRole.commune)


async def staff_names(session: AsyncSession, ids: Sequence[int | None]) -> dict[int, Staff]:
    """Staff accounts by id (for names on the timeline and in the list)."""
    wanted = {staff_id for staff_id in ids if staff_id is not None}
    if not wanted:
        return {}
    rows = (await session.exec(select(Staff).where(col(Staff.id).in_(wanted)))).all()
    return {staff.id: staff for staff in rows if staff.id is not None}


async def deliveries(session: AsyncSession, ticket: Ticket) -> dict[tuple[str, datetime], OutboxMessage]:
    """Outbox messages queued for a ticket ("reply" or "status", the event's time) → the message.

    They are queued for the ticket's citizen (handlers.notify), so they are looked for among that
    citizen's messages (an index), then by key: a key prefix (LIKE) is served by no index on either
    database, and the outbox holds every notice's messages."""
    if ticket.citizen_id is None:
        return {}  # the citizen deleted their data, and their messages with it
    prefix = f"ticket:{ticket.id}:"
    rows = (
        await session.exec(
            select(OutboxMessage).where(
                OutboxMessage.citizen_id == ticket.citizen_id,
                col(OutboxMessage.dedupe_key).startswith(prefix),
            )
        )
    ).all()
    found: dict[tuple[str, datetime], OutboxMessage] = {}
    for message in rows:
        what, _, moment = (message.dedupe_key or "")[len(prefix) :].partition(":")
        try:
            found[(what, datetime.fromisoformat(moment))] = message
        except ValueError:
            continue
    return found
