"""Dashboard screens: the inbox (filters, counts, pages, exports) and one ticket (timeline, reply,
note, assignment, status, the citizen's files).

Tickets outside the staff member's area are 404s; every action is audit-logged and every message
to the citizen goes through the outbox in the citizen's language.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Literal

from aiohttp import web

from bot import keys
from bot.dashboard import web as dash
from bot.dashboard.selfcheck import OUTCOME_LABELS
from bot.export import as_bytes, rows_of
from content.i18n import N_
from handlers.notify import queue_ticket_message
from storage import inbox as inbox_repo
from storage import selfcheck as selfcheck_repo
from storage import tickets as ticket_repo
from storage.core import id_of
from storage.models import EventKind, Staff, Ticket, TicketAttachment, TicketKind, TicketStatus
from storage.ticket_rules import FINAL, OPEN, TRANSITIONS, InvalidTransition, is_overdue

routes = web.RouteTableDef()
PAGE_SIZE = 25
MAX_REPLY = 3500
MAX_REASON = 1000
CODE = r"{code:[A-Za-z0-9-]{1,20}}"
INLINE_TYPES = dash.CITIZEN_FILES | {"image/gif"}

KIND_LABELS = {
    TicketKind.question: N_("Question"),
    TicketKind.feedback: N_("Feedback"),
    TicketKind.suggestion: N_("Suggestion"),
    TicketKind.complaint: N_("Complaint"),
    TicketKind.problem: N_("Problem"),
}
EXPORT_FORMATS: dict[str, Literal["csv", "xlsx"]] = {"csv": "csv", "xlsx": "xlsx"}
STATUS_LABELS = {
    TicketStatus.new: N_("New"),
    TicketStatus.assigned: N_("Assigned"),
    TicketStatus.in_progress: N_("In progress"),
    TicketStatus.answered: N_("Answered"),
    TicketStatus.closed: N_("Closed"),
    TicketStatus.rejected: N_("Rejected"),
}
EVENT_LABELS = {
    EventKind.created: N_("Report received"),
    EventKind.citizen_message: N_("Message from the citizen"),
    EventKind.reply: N_("Reply to the citizen"),
    EventKind.note: N_("Internal note"),
    EventKind.status: N_("Status changed"),
    EventKind.assignment: N_("Assigned to"),
    EventKind.rating: N_("Rating"),
}
DELIVERY_LABELS = {
    "pending": N_("waiting to be sent"),
    "sending": N_("waiting to be sent"),
    "sent": N_("sent"),
    "failed": N_("sending failed"),
    "skipped": N_("not sent"),
}
DONE = {
    "reply": N_("The reply is queued and will reach the citizen in the chat."),
    "reply_stored": N_("The reply is saved on the ticket, but the citizen cannot be reached in the chat."),
    "note": N_("Internal note saved."),
    "assign": N_("Ticket assigned."),
    "status": N_("Status changed; the citizen has been told."),
}
ERRORS = {
    "empty": N_("Please write a text first."),
    "too_long": N_("The text is too long."),
    "closed": N_("This ticket is closed: it can no longer be answered or assigned."),
    "status": N_("This status change is not possible from the ticket's current status."),
    "reason": N_("Please give a reason: the citizen will see it."),
    "assignee": N_("Choose a staff member who can see this commune."),
}
# Replies staff often send, per kind; shown in the citizen's language, {code} and {due} filled in.
COMMON_TEMPLATES = (
    N_(
        "Thank you for your report {code}. We have received it and are looking into it; you will have an answer by "
        "{due}."
    ),
)
REPLY_TEMPLATES = {
    TicketKind.question: (
        N_(
            "About your question: … If anything is unclear, reply here or come to the commune People's Committee "
            "during office hours."
        ),
        N_(
            "Your question needs the commune officer for social affairs to check your household's records. They will "
            "call you within a few days."
        ),
    ),
    TicketKind.feedback: (
        N_(
            "Thank you for your feedback. We have passed it to the responsible department and will tell you what "
            "they decide."
        ),
    ),
    TicketKind.suggestion: (
        N_(
            "Thank you for your suggestion. The commune People's Committee will consider it at its next meeting and "
            "tell you the result."
        ),
    ),
    TicketKind.complaint: (
        N_(
            "We have received your complaint. The commune review team will check your household's case again and "
            "meet you. Please have your ID card and household papers ready."
        ),
        N_(
            "After checking again, the result for your household is: … If you still disagree, you can send a written "
            "complaint to the commune People's Committee."
        ),
    ),
    TicketKind.problem: (
        N_("Thank you for reporting this problem. An officer will come to check it on …"),
        N_("The problem you reported has been dealt with. Thank you for helping your commune."),
    ),
}


def _parse_day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _filter(request: web.Request) -> tuple[inbox_repo.InboxFilter, list[str]]:
    """The inbox filter from the query string; what could not be understood is left out and named."""
    query, errors = request.query, []
    status = query.get("status", "open")
    if status not in ("open", "all", *TicketStatus.__members__):
        errors.append(N_("Unknown status: showing all."))
        status = "all"
    kind = query.get("kind", "")
    if kind and kind not in TicketKind.__members__:
        errors.append(N_("Unknown kind: not filtered by kind."))
        kind = ""
    days: list[date | None] = []
    for name in ("from", "to"):
        try:
            days.append(_parse_day(query.get(name, "").strip()))
        except ValueError:
            errors.append(N_("A date could not be read (use the date picker, e.g. 2026-12-31): it is left out."))
            days.append(None)
    assignee = query.get("assignee", "")
    chosen = inbox_repo.InboxFilter(
        status="" if status == "all" else status,
        kind=kind,
        topic=query.get("topic", "")[:64],
        area=query.get("area", "")[:16],
        date_from=days[0],
        date_to=days[1],
        overdue=query.get("overdue") == "1",
        assignee=assignee if assignee == inbox_repo.UNASSIGNED or assignee.isdigit() else "",
        query=query.get("q", "").strip()[:200],
        selfcheck=query.get("selfcheck") == "1",
    )
    return chosen, errors


def _page_number(request: web.Request) -> int:
    text = request.query.get("page", "1")
    return max(int(text), 1) if text.isdigit() and len(text) < 7 else 1


@routes.get(f"{dash.PREFIX}/inbox", name="admin-inbox")
async def inbox(request: web.Request) -> web.Response:
    """GET /admin/inbox?status=&kind=&topic=&area=&from=&to=&overdue=1&selfcheck=1&assignee=&q=&page=:
    the ticket list."""
    staff, now, services = dash.staff_of(request), dash.now_of(request), request.app[keys.SERVICES]
    chosen, errors = _filter(request)
    number = _page_number(request)
    if chosen.query:
        async with dash.reading(request) as session:
            pending = await inbox_repo.search_pending(session)
        if pending:  # older tickets without search text: the citizens' connection is taken only then
            async with request.app[keys.SESSIONS]() as session:
                await inbox_repo.index_pending(session)
                await session.commit()
    async with dash.reading(request) as session:
        found, counts = await inbox_repo.page(
            session, staff, chosen, now=now, tz=services.tz, number=number, size=PAGE_SIZE
        )
        total = inbox_repo.total_of(counts, chosen.status)
        people = await inbox_repo.staff_in_scope(session, staff)
        requests = (
            await selfcheck_repo.requests_of(session, [t.id for t in found if t.id is not None])
            if chosen.selfcheck
            else {}
        )
    areas = dash.scope_areas(request)
    return dash.render(
        request,
        "admin/inbox/list.html",
        {
            "tickets": found,
            "total": total,
            "page": number,
            "pages": max(math.ceil(total / PAGE_SIZE), 1),
            "counts": counts,
            "open_count": sum(counts[str(s)] for s in OPEN),
            "filter": chosen,
            "errors": errors,
            "status_param": request.query.get("status", "open"),
            "people": people,
            "names": {p.id: p for p in people},
            "communes": [a for a in services.areas.communes() if areas is None or a.code in areas],
            "topics": services.library.topics(now.astimezone(services.tz).date()),
            "topic_label": _topic_label(request),
            "kinds": KIND_LABELS,
            "statuses": STATUS_LABELS,
            "now": now,
            "is_overdue": is_overdue,
            "all_areas": areas is None,
            "unassigned": inbox_repo.UNASSIGNED,
            "requests": requests,
            "outcomes": OUTCOME_LABELS,
        },
    )


def _topic_label(request: web.Request):
    library, lang = request.app[keys.SERVICES].library, dash.translator_of(request).locale

    def label(topic_id: str) -> str:
        topic = library.topic(topic_id) if topic_id else None
        if topic is not None:
            return topic.title(lang)
        return dash.translator_of(request).gettext(N_("Something else")) if topic_id == "other" else topic_id

    return label


@routes.get(f"{dash.PREFIX}/inbox/export", name="admin-inbox-export")
async def export(request: web.Request) -> web.StreamResponse:
    """GET /admin/inbox/export?format=csv|xlsx&…: the tickets the inbox shows, in the viewer's scope."""
    fmt = EXPORT_FORMATS.get(request.query.get("format", ""))
    if fmt is None:
        return dash.render(
            request,
            "admin/error.html",
            {"code": 400, "message": N_("Choose CSV or Excel (XLSX) for the export.")},
            status=400,
        )
    staff, now, tz = dash.staff_of(request), dash.now_of(request), request.app[keys.SERVICES].tz
    chosen, _ = _filter(request)
    async with request.app[keys.SESSIONS]() as session:
        await inbox_repo.index_pending(session, limit=100_000)
        await session.commit()
    async with dash.reading(request) as session:
        rows = await rows_of(session, await inbox_repo.matching(session, staff, chosen, now=now, tz=tz), tz=tz, now=now)
    async with request.app[keys.SESSIONS]() as session:
        await dash.record(
            session,
            request,
            "export.tickets",
            object_type="export",
            object_id=fmt,
            count=len(rows),
            filter=request.query_string[:300],
        )
        await session.commit()
    content_type = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"tickets-{now.astimezone(tz):%Y%m%d-%H%M}.{fmt}"
    return web.Response(
        body=as_bytes(rows, fmt),
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _ticket(session, request: web.Request) -> Ticket:
    """The ticket of the URL if the staff member may see it; 404 otherwise."""
    ticket = await ticket_repo.get_for_staff(session, dash.staff_of(request), request.match_info["code"])
    if ticket is None:
        raise web.HTTPNotFound()
    return ticket


@routes.get(f"{dash.PREFIX}/tickets/{CODE}", name="admin-ticket")
async def ticket_page(request: web.Request) -> web.Response:
    """GET /admin/tickets/CODE: the ticket, its timeline and what staff can do with it."""
    staff, services = dash.staff_of(request), request.app[keys.SERVICES]
    async with dash.reading(request) as session:
        ticket = await _ticket(session, request)
        events = await ticket_repo.timeline(session, id_of(ticket), public_only=False)
        files = await ticket_repo.attachments(session, id_of(ticket))
        sent = await inbox_repo.deliveries(session, ticket)
        names = await inbox_repo.staff_names(session, [e.staff_id for e in events] + [ticket.assignee_id])
        assignable = await inbox_repo.assignable(session, ticket) if ticket.status not in FINAL else []
        reporter = ticket_repo.reporter_for(ticket, staff)
    if ticket.anonymous and reporter != ticket_repo.ANONYMOUS:
        async with request.app[keys.SESSIONS]() as session:
            await dash.record(session, request, "ticket.identity_view", object_type="ticket", object_id=ticket.code)
            await session.commit()
    citizen_text = services.catalogs.get(ticket.locale)
    due = citizen_text.format_date(ticket.due_at)
    templates = [
        citizen_text.gettext(text).format(code=ticket.code, due=due)
        for text in (*COMMON_TEMPLATES, *REPLY_TEMPLATES.get(TicketKind(ticket.kind), ()))
    ]
    return dash.render(
        request,
        "admin/inbox/ticket.html",
        {
            "ticket": ticket,
            "events": events,
            "reporter": reporter,
            "names": names,
            "assignable": assignable,
            "files_of": {e.id: [f for f in files if f.event_id == e.id] for e in events},
            "loose_files": [f for f in files if f.event_id not in {e.id for e in events}],
            "delivery": lambda event: _delivery(event, sent),
            "delivery_labels": DELIVERY_LABELS,
            "next_statuses": sorted(TRANSITIONS[TicketStatus(ticket.status)]),
            "final": ticket.status in FINAL,
            "overdue": is_overdue(ticket.due_at, ticket.status, dash.now_of(request)),
            "templates": templates,
            "kinds": KIND_LABELS,
            "statuses": STATUS_LABELS,
            "event_labels": EVENT_LABELS,
            "topic_label": _topic_label(request),
            "citizen_locale": ticket.locale,
            "done": DONE.get(request.query.get("done", ""), ""),
            "error": ERRORS.get(request.query.get("error", ""), ""),
            "map_link": _map_link(ticket),
        },
    )


def _delivery(event, sent):
    """The outbox message of a reply or status event: a status name, "none" when nothing was queued."""
    if event.kind not in (EventKind.reply, EventKind.status) or event.staff_id is None:
        return ""
    what = "reply" if event.kind == EventKind.reply else "status"
    message = sent.get((what, event.created_at))
    return message.status if message is not None else ("none" if what == "reply" else "")


def _map_link(ticket: Ticket) -> str:
    """An OpenStreetMap link for the ticket's location (opens outside the dashboard)."""
    if ticket.latitude is None or ticket.longitude is None:
        return ""
    lat, lon = f"{ticket.latitude:.6f}", f"{ticket.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


@routes.get(rf"{dash.PREFIX}/tickets/{CODE}/attachments/{{attachment_id:\d{{1,12}}}}", name="admin-ticket-attachment")
async def attachment(request: web.Request) -> web.StreamResponse:
    """GET …/attachments/ID: a photo or voice message of a ticket the staff member may see."""
    async with dash.reading(request) as session:
        ticket = await _ticket(session, request)
        found = await session.get(TicketAttachment, int(request.match_info["attachment_id"]))
    if found is None or found.ticket_id != ticket.id:
        raise web.HTTPNotFound()
    return dash.private_file(request, found.path, found.mime_type, INLINE_TYPES)


def _back(request: web.Request, **query: str) -> web.HTTPSeeOther:
    return dash.redirect(request, "admin-ticket", query, code=request.match_info["code"])


@routes.post(f"{dash.PREFIX}/tickets/{CODE}/reply", name="admin-ticket-reply")
async def reply(request: web.Request) -> web.StreamResponse:
    """POST …/reply: answer the citizen (queued in the outbox); the ticket becomes answered."""
    text = dash.form_text(await request.post(), "text")
    if not text or len(text) > MAX_REPLY:
        raise _back(request, error="empty" if not text else "too_long")
    now = dash.now_of(request)
    async with request.app[keys.SESSIONS]() as session:
        ticket = await _ticket(session, request)
        if ticket.status in FINAL:
            raise _back(request, error="closed")
        await ticket_repo.reply(session, ticket, dash.staff_of(request), text, now)
        queued = await queue_ticket_message(session, request.app[keys.SERVICES].catalogs, now, ticket, "reply", text)
        await dash.record(
            session, request, "ticket.reply", object_type="ticket", object_id=ticket.code, queued=queued is not None
        )
        await session.commit()
    raise _back(request, done="reply" if queued is not None else "reply_stored")


@routes.post(f"{dash.PREFIX}/tickets/{CODE}/note", name="admin-ticket-note")
async def note(request: web.Request) -> web.StreamResponse:
    """POST …/note: an internal note the citizen never sees."""
    text = dash.form_text(await request.post(), "text")
    if not text or len(text) > MAX_REPLY:
        raise _back(request, error="empty" if not text else "too_long")
    async with request.app[keys.SESSIONS]() as session:
        ticket = await _ticket(session, request)
        await ticket_repo.add_note(session, ticket, dash.staff_of(request), text, dash.now_of(request))
        await dash.record(session, request, "ticket.note", object_type="ticket", object_id=ticket.code)
        await session.commit()
    raise _back(request, done="note")


@routes.post(f"{dash.PREFIX}/tickets/{CODE}/assign", name="admin-ticket-assign")
async def assign(request: web.Request) -> web.StreamResponse:
    """POST …/assign: give the ticket to a staff member whose scope includes it."""
    chosen = dash.form_text(await request.post(), "assignee")
    async with request.app[keys.SESSIONS]() as session:
        ticket = await _ticket(session, request)
        assignee = await session.get(Staff, int(chosen)) if chosen.isdigit() else None
        if assignee is None:
            raise _back(request, error="assignee")
        try:
            await ticket_repo.assign(session, ticket, dash.staff_of(request), assignee, dash.now_of(request))
        except InvalidTransition:
            raise _back(request, error="closed") from None
        except ValueError:
            raise _back(request, error="assignee") from None
        await dash.record(
            session, request, "ticket.assign", object_type="ticket", object_id=ticket.code, assignee=assignee.username
        )
        await session.commit()
    raise _back(request, done="assign")


@routes.post(f"{dash.PREFIX}/tickets/{CODE}/status", name="admin-ticket-status")
async def change_status(request: web.Request) -> web.StreamResponse:
    """POST …/status: a new status, with a reason the citizen sees (required to reject)."""
    form = await request.post()
    wanted, reason = dash.form_text(form, "status"), dash.form_text(form, "reason")
    if len(reason) > MAX_REASON:
        raise _back(request, error="too_long")
    now = dash.now_of(request)
    async with request.app[keys.SESSIONS]() as session:
        ticket = await _ticket(session, request)
        old = ticket.status
        if wanted not in TicketStatus.__members__ or TicketStatus(wanted) not in TRANSITIONS[TicketStatus(old)]:
            raise _back(request, error="status")
        if wanted == TicketStatus.rejected and not reason:
            raise _back(request, error="reason")
        await ticket_repo.change_status(session, ticket, dash.staff_of(request), wanted, now, reason=reason or None)
        await queue_ticket_message(session, request.app[keys.SERVICES].catalogs, now, ticket, "status", reason)
        await dash.record(
            session,
            request,
            "ticket.status",
            object_type="ticket",
            object_id=ticket.code,
            old=old,
            new=wanted,
            reason=reason,
        )
        await session.commit()
    raise _back(request, done="status")
