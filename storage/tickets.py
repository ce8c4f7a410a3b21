"""Ticket repository: create, read, reply, change status, scope to staff. Never commits.

Every status change writes exactly one public `status` event, so a citizen's timeline and the
notifications built from it show each step; notes and assignments stay internal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, func, true, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.text import fold
from storage import ticket_rules
from storage.models import (
    EventKind,
    Staff,
    StaffRole,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketKind,
    TicketStatus,
)
from storage.ticket_rules import FINAL, OPEN, InvalidTransition

# (kind, path under DATA_DIR/media, MIME type, size in bytes) of a file a citizen sent.
AttachmentSpec = tuple[str, str, str, int]
ANONYMOUS = "Ẩn danh"
_CODE_ATTEMPTS = 20
SEARCH_TEXT_LENGTH = 4200


def search_text_of(code: str, topic: str, body: str) -> str:
    """The folded text the dashboard's search matches: code, topic and message (never the sender's name)."""
    return fold(f"{code} {topic} {body}")[:SEARCH_TEXT_LENGTH]


async def create_ticket(
    session: AsyncSession,
    *,
    citizen_id: int | None,
    kind: TicketKind | str,
    topic: str,
    body: str,
    area_code: str | None,
    anonymous: bool,
    reporter_name: str | None,
    locale: str,
    latitude: float | None = None,
    longitude: float | None = None,
    attachments: Sequence[AttachmentSpec] = (),
    now: datetime,
    due_at: datetime,
) -> Ticket:
    """Store a new ticket under a fresh unique code, with its public `created` event and files; its
    search text is written now, so the dashboard's search never has to catch up on it."""
    code = await _unused_code(session)
    ticket = Ticket(
        code=code,
        kind=TicketKind(kind),
        topic=topic,
        citizen_id=citizen_id,
        area_code=area_code,
        anonymous=anonymous,
        reporter_name=reporter_name,
        body=body,
        latitude=latitude,
        longitude=longitude,
        locale=locale,
        created_at=now,
        due_at=due_at,
        updated_at=now,
        search_text=search_text_of(code, topic, body),
    )
    session.add(ticket)
    await session.flush()
    event = await _event(
        session, ticket, EventKind.created, public=True, now=now, from_citizen=True, new_status=TicketStatus.new
    )
    _attach(session, ticket, event, attachments, now)
    return ticket


async def _unused_code(session: AsyncSession) -> str:
    """A code no stored ticket has.

    Checked with a query rather than by catching the unique-constraint error at flush: that error
    spoils the caller's transaction, and a SAVEPOINT opened as the first statement on SQLite's
    driver commits on release. The constraint still guards the (about 1 in 6·10^8) race between processes.
    """
    for _ in range(_CODE_ATTEMPTS):
        code = ticket_rules.new_code()
        if (await session.exec(select(Ticket.id).where(Ticket.code == code))).first() is None:
            return code
    raise RuntimeError(f"no unused ticket code after {_CODE_ATTEMPTS} attempts")


async def get_by_code(session: AsyncSession, code: str) -> Ticket | None:
    """The ticket with this code as typed by a person ("pa 7k3m9q" works), if any."""
    normalized = ticket_rules.normalize_code(code, require_prefix=False)
    if normalized is None:
        return None
    return (await session.exec(select(Ticket).where(Ticket.code == normalized))).first()


async def tickets_of_citizen(session: AsyncSession, citizen_id: int, limit: int = 10) -> list[Ticket]:
    """A citizen's tickets, newest first."""
    query = (
        select(Ticket)
        .where(Ticket.citizen_id == citizen_id)
        .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def timeline(session: AsyncSession, ticket_id: int, *, public_only: bool) -> list[TicketEvent]:
    """A ticket's events in order; citizens get only the public ones."""
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if public_only:
        query = query.where(col(TicketEvent.public).is_(True))
    return list((await session.exec(query.order_by(col(TicketEvent.created_at), col(TicketEvent.id)))).all())


async def attachments(session: AsyncSession, ticket_id: int) -> list[TicketAttachment]:
    """Files sent with a ticket, in the order they came."""
    query = select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id).order_by(col(TicketAttachment.id))
    return list((await session.exec(query)).all())


async def add_citizen_message(
    session: AsyncSession, ticket: Ticket, text: str, attachments: Sequence[AttachmentSpec], now: datetime
) -> TicketEvent:
    """Add what the citizen wrote; an answered ticket goes back to in_progress.

    Closed and rejected tickets refuse (InvalidTransition): nobody watches them any more, so the
    citizen should be asked to send a new ticket instead.
    """
    if ticket.status in FINAL:
        raise InvalidTransition(f"ticket {ticket.code} is {ticket.status}: send a new one")
    event = await _event(session, ticket, EventKind.citizen_message, public=True, now=now, from_citizen=True, text=text)
    _attach(session, ticket, event, attachments, now)
    if ticket.status == TicketStatus.answered:
        await _set_status(session, ticket, TicketStatus.in_progress, None, now)
    ticket.updated_at = now
    return event


async def reply(session: AsyncSession, ticket: Ticket, staff: Staff, text: str, now: datetime) -> TicketEvent:
    """Answer the citizen (public); the ticket becomes answered when its status allows (a reply to
    an answered, closed or rejected ticket is recorded without a status change)."""
    event = await _event(session, ticket, EventKind.reply, public=True, now=now, staff=staff, text=text)
    if ticket_rules.can_transition(ticket.status, TicketStatus.answered):
        await _set_status(session, ticket, TicketStatus.answered, staff, now)
    ticket.updated_at = now
    return event


async def add_note(session: AsyncSession, ticket: Ticket, staff: Staff, text: str, now: datetime) -> TicketEvent:
    """An internal note between staff, never shown to the citizen."""
    event = await _event(session, ticket, EventKind.note, public=False, now=now, staff=staff, text=text)
    ticket.updated_at = now
    return event


async def change_status(
    session: AsyncSession,
    ticket: Ticket,
    staff: Staff | None,
    new_status: TicketStatus | str,
    now: datetime,
    reason: str | None = None,
) -> TicketEvent:
    """Move the ticket to `new_status` (validated); rejecting needs a reason, which the citizen sees."""
    new_status = TicketStatus(new_status)
    reason = (reason or "").strip()
    if new_status == TicketStatus.rejected and not reason:
        raise ValueError("rejecting a ticket needs a reason for the citizen")
    return await _set_status(session, ticket, new_status, staff, now, text=reason)


async def assign(session: AsyncSession, ticket: Ticket, staff: Staff, assignee: Staff, now: datetime) -> TicketEvent:
    """Give the ticket to `assignee` (internal event); a new ticket becomes assigned."""
    if ticket.status in FINAL:
        raise InvalidTransition(f"ticket {ticket.code} is {ticket.status} and cannot be assigned")
    if not in_scope(assignee, ticket):
        raise ValueError(f"{assignee.username} cannot see ticket {ticket.code} (another area or inactive)")
    ticket.assignee_id = assignee.id
    event = await _event(
        session, ticket, EventKind.assignment, public=False, now=now, staff=staff, text=assignee.username
    )
    if ticket.status == TicketStatus.new:
        await _set_status(session, ticket, TicketStatus.assigned, staff, now)
    ticket.updated_at = now
    return event


async def rate(session: AsyncSession, ticket: Ticket, rating: int, resolved: bool, now: datetime) -> TicketEvent:
    """Record the citizen's rating (1–5, the event's text); not resolved reopens an answered ticket.

    Resolved leaves it answered (staff or a later job close it); a closed ticket stays closed.
    """
    if not 1 <= rating <= 5:
        raise ValueError("rating must be from 1 to 5")
    if ticket.status not in (TicketStatus.answered, TicketStatus.closed):
        raise InvalidTransition(f"ticket {ticket.code} is {ticket.status}: only answered or closed tickets are rated")
    ticket.rating, ticket.resolved = rating, resolved
    event = await _event(session, ticket, EventKind.rating, public=True, now=now, from_citizen=True, text=str(rating))
    if not resolved and ticket.status == TicketStatus.answered:
        await _set_status(session, ticket, TicketStatus.in_progress, None, now)
    ticket.updated_at = now
    return event


def visible_to(staff: Staff) -> ColumnElement[bool]:
    """SQL condition on Ticket for what this staff member may see."""
    if not staff.active:
        return false()
    if staff.role in (StaffRole.admin, StaffRole.province):
        return true()
    if staff.role == StaffRole.commune and staff.area_code:
        return col(Ticket.area_code) == staff.area_code
    return false()


def in_scope(staff: Staff, ticket: Ticket) -> bool:
    """The same rule as `visible_to`, for a ticket already loaded."""
    if not staff.active:
        return False
    if staff.role in (StaffRole.admin, StaffRole.province):
        return True
    return staff.role == StaffRole.commune and bool(staff.area_code) and ticket.area_code == staff.area_code


async def list_for_staff(
    session: AsyncSession,
    staff: Staff,
    *,
    statuses: Sequence[TicketStatus | str] | None = None,
    overdue_only: bool = False,
    now: datetime,
    limit: int = 50,
) -> list[Ticket]:
    """Tickets in the staff member's scope, soonest due first."""
    query = select(Ticket).where(visible_to(staff))
    if statuses is not None:
        query = query.where(col(Ticket.status).in_([str(status) for status in statuses]))
    if overdue_only:
        query = query.where(col(Ticket.status).in_([str(status) for status in OPEN]), col(Ticket.due_at) < now)
    query = query.order_by(col(Ticket.due_at), col(Ticket.id)).limit(limit)
    return list((await session.exec(query)).all())


async def get_for_staff(session: AsyncSession, staff: Staff, code: str) -> Ticket | None:
    """The ticket with this code if the staff member may see it; None otherwise (no hint it exists)."""
    normalized = ticket_rules.normalize_code(code, require_prefix=False)
    if normalized is None:
        return None
    return (await session.exec(select(Ticket).where(Ticket.code == normalized, visible_to(staff)))).first()


async def count_today(session: AsyncSession, citizen_id: int, now: datetime, tz: ZoneInfo) -> int:
    """How many tickets the citizen created since local midnight (for the daily limit)."""
    today = now.astimezone(tz).date()
    start = datetime.combine(today, time(0), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    query = (
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.citizen_id == citizen_id, col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    )
    return int((await session.exec(query)).one())


def reporter_for(ticket: Ticket, staff: Staff) -> str:
    """Who sent the ticket, as this staff member may see it: anonymous senders only to admins.

    The caller must write an audit-log entry whenever an admin is shown an anonymous sender's name.
    """
    name = ticket.reporter_name or ""
    if not ticket.anonymous:
        return name
    if staff.active and staff.role == StaffRole.admin and name:
        return name
    return ANONYMOUS


async def forget_citizen(session: AsyncSession, citizen_id: int) -> int:
    """Unlink a citizen who deletes their data from their tickets and drop their name; keep the
    tickets, which are public-service records. Call before deleting the citizen. Returns the count."""
    result = await session.exec(
        update(Ticket).where(col(Ticket.citizen_id) == citizen_id).values(citizen_id=None, reporter_name=None)
    )
    return int(result.rowcount)


async def _set_status(
    session: AsyncSession, ticket: Ticket, new_status: TicketStatus, staff: Staff | None, now: datetime, text: str = ""
) -> TicketEvent:
    """Validate and apply a status change with its timestamps and its one public event."""
    old_status = TicketStatus(ticket.status)
    ticket_rules.check_transition(old_status, new_status)
    ticket.status = new_status
    ticket.updated_at = now
    if new_status == TicketStatus.answered:
        ticket.answered_at = now  # the latest answer: a reopened ticket is measured by its last one
    elif new_status == TicketStatus.closed:
        ticket.closed_at = now
    elif new_status == TicketStatus.rejected:
        ticket.reject_reason = text
    return await _event(
        session,
        ticket,
        EventKind.status,
        public=True,
        now=now,
        staff=staff,
        text=text,
        old_status=old_status,
        new_status=new_status,
    )


async def _event(
    session: AsyncSession,
    ticket: Ticket,
    kind: EventKind,
    *,
    public: bool,
    now: datetime,
    staff: Staff | None = None,
    from_citizen: bool = False,
    text: str = "",
    old_status: TicketStatus | None = None,
    new_status: TicketStatus | None = None,
) -> TicketEvent:
    """Add one timeline entry (flushed, so attachments can point at it)."""
    assert ticket.id is not None, "the ticket must be flushed first"
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        public=public,
        staff_id=staff.id if staff else None,
        from_citizen=from_citizen,
        text=text,
        old_status=old_status,
        new_status=new_status,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    return event


def _attach(
    session: AsyncSession, ticket: Ticket, event: TicketEvent, files: Sequence[AttachmentSpec], now: datetime
) -> None:
    """Record files that came with an event."""
    assert ticket.id is not None
    for kind, path, mime_type, size in files:
        session.add(
            TicketAttachment(
                ticket_id=ticket.id,
                event_id=event.id,
                kind=kind,
                path=path,
                mime_type=mime_type,
                size=size,
                created_at=now,
            )
        )
