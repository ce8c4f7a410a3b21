"""In-chat tools for commune officers linked with /link CODE: new and overdue reports of their area,
open one, reply publicly, add an internal note, change its status. Every action re-checks the
officer's scope."""

from __future__ import annotations

from content.i18n import N_
from handlers.actions import (
    OfficerHome,
    OfficerList,
    OfficerNote,
    OfficerOpen,
    OfficerReply,
    OfficerSetStatus,
    OfficerStatus,
    OfficerTicket,
)
from handlers.menu import main_menu
from handlers.notify import notify_citizen
from handlers.router import Action, Routes
from handlers.states import State
from handlers.tracking import status_label
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from storage import audit
from storage import staff as staff_repo
from storage import tickets as ticket_repo
from storage.core import id_of
from storage.models import Staff, Ticket, TicketStatus
from storage.ticket_rules import TRANSITIONS, is_overdue

OPEN_STATUSES = (TicketStatus.new, TicketStatus.assigned, TicketStatus.in_progress)
REMINDER = N_("Good morning! Reports in your area: {new} new, {overdue} overdue. Send /canbo to handle them.")
LIST_LIMIT = 10


async def linked_officer(turn: Turn) -> Staff | None:
    """The staff member this chat account is linked to. A link made from the web chat ends as a
    staff session does (Services.web_link after /link, or SESSION_IDLE unused): it is removed here,
    audited."""
    staff = await staff_repo.staff_for_chat(turn.session, turn.incoming.channel, turn.incoming.user_id)
    if staff is not None and staff_repo.link_ended(staff, turn.now, turn.services.web_link):
        await _unlink(turn, staff, "expired")
        return None
    if staff is not None and staff.chat_channel in staff_repo.SESSION_LIKE_CHANNELS:
        staff.chat_link_seen_at = turn.now  # used: its idle time starts again
    return staff


def not_linked(turn: Turn) -> list[Reply]:
    """The answer to an officer's command from a chat not linked to a staff account."""
    return [
        main_menu(
            turn, turn._("This command is for linked staff. Use /link CODE with the code from your administrator.")
        )
    ]


def _reports_row(turn: Turn) -> tuple[Button, ...]:
    """The "📥 Reports" button, back to the officer's counts."""
    return (Button(turn._("📥 Reports"), OfficerHome().pack()),)


async def _audit_link(turn: Turn, staff: Staff, action: str, channel: str | None, **details: str) -> None:
    """Record a link or an unlink of a chat account on `channel` to `staff`."""
    await audit.record(
        turn.session,
        staff,
        action,
        now=turn.now,
        object_type="staff",
        object_id=staff.username,
        channel=channel,
        **details,
    )


async def _unlink(turn: Turn, staff: Staff, reason: str) -> None:
    """End the chat link of `staff`, audited with why ("expired", "chat")."""
    channel = staff_repo.unlink_chat(staff)
    await _audit_link(turn, staff, "staff.unlink", channel, reason=reason)


async def _audit_ticket(turn: Turn, staff: Staff, ticket: Ticket, action: str, **details: str) -> None:
    """Record what the officer did to or saw of a ticket."""
    await audit.record(
        turn.session, staff, action, now=turn.now, object_type="ticket", object_id=ticket.code, **details
    )


async def link(turn: Turn) -> list[Reply]:
    """/link CODE: connect this chat account to a staff account."""
    code = "".join(turn.args).upper()
    staff = (
        await staff_repo.redeem_link_code(turn.session, code, turn.incoming.channel, turn.incoming.user_id, turn.now)
        if code
        else None
    )
    if staff is None:
        return [Reply(turn._("This link code is not valid or has expired. Ask the administrator for a new one."))]
    await _audit_link(turn, staff, "staff.link", turn.incoming.channel)
    area = turn.services.areas.get(staff.area_code) if staff.area_code else None
    text = turn._(
        "Linked to the staff account {username}. Scope: {scope}. Send /canbo to see the reports, /unlink to end the "
        "link.",
        username=staff.username,
        scope=area.label if area else turn._("the whole province"),
    )
    if staff.chat_channel in staff_repo.SESSION_LIKE_CHANNELS:
        hours = round(turn.services.web_link.total_seconds() / 3600)
        text += "\n" + turn._(
            "In the web chat the link ends by itself after {hours} hours, or 2 hours unused, as a dashboard "
            "session does.",
            hours=hours,
        )
    return [Reply(text, buttons=(_reports_row(turn),))]


async def unlink(turn: Turn) -> list[Reply]:
    """/unlink: end this chat account's link to a staff account (the officer's tools leave this chat)."""
    staff = await linked_officer(turn)
    if staff is None:
        return [main_menu(turn, turn._("This chat is not linked to a staff account."))]
    await _unlink(turn, staff, "chat")
    turn.reset()
    return [
        main_menu(
            turn,
            turn._(
                "The link to the staff account {username} has ended. Reports are no longer shown in this chat.",
                username=staff.username,
            ),
        )
    ]


async def home(turn: Turn) -> list[Reply]:
    """/canbo: counts of new and overdue reports in the officer's area."""
    staff = await linked_officer(turn)
    if staff is None:
        return not_linked(turn)
    turn.reset()
    open_tickets = await ticket_repo.list_for_staff(
        turn.session, staff, statuses=OPEN_STATUSES, now=turn.now, limit=500
    )
    new = sum(1 for t in open_tickets if t.status == TicketStatus.new)
    overdue = sum(1 for t in open_tickets if is_overdue(t.due_at, t.status, turn.now))
    return [
        Reply(
            turn._(
                "Reports in your area: {new} new, {overdue} overdue, {open} open in total.",
                new=new,
                overdue=overdue,
                open=len(open_tickets),
            ),
            buttons=(
                (Button(turn._("🆕 New ({count})", count=new), OfficerList("new").pack()),),
                (Button(turn._("⏰ Overdue ({count})", count=overdue), OfficerList("overdue").pack()),),
                (Button(turn._("📂 All open ({count})", count=len(open_tickets)), OfficerList("open").pack()),),
            ),
        )
    ]


async def _list(turn: Turn, staff: Staff, which: str) -> list[Reply]:
    statuses = (TicketStatus.new,) if which == "new" else OPEN_STATUSES
    tickets = await ticket_repo.list_for_staff(
        turn.session,
        staff,
        statuses=statuses,
        overdue_only=which == "overdue",
        now=turn.now,
        limit=LIST_LIMIT,
    )
    if not tickets:
        return [Reply(turn._("No reports here."), buttons=(_reports_row(turn),))]
    return [
        Reply(
            turn._("Reports (oldest first, at most {limit}):", limit=LIST_LIMIT),
            buttons=tuple(
                (
                    Button(
                        f"{'⏰ ' if is_overdue(t.due_at, t.status, turn.now) else ''}{t.code} · {t.body[:30]}",
                        OfficerOpen(t.code).pack(),
                    ),
                )
                for t in tickets
            ),
        )
    ]


async def _show(turn: Turn, staff: Staff, ticket: Ticket) -> list[Reply]:
    area = turn.services.areas.get(ticket.area_code) if ticket.area_code else None
    if ticket.anonymous and ticket_repo.reporter_for(ticket, staff) != ticket_repo.ANONYMOUS:
        await _audit_ticket(turn, staff, ticket, "identity.view", via="chat")
    lines = [
        f"{ticket.code} · {ticket.kind} · {status_label(turn, ticket.status)}",
        turn._("Commune: {commune}", commune=area.label if area else "—"),
        turn._("Sender: {name}", name=ticket_repo.reporter_for(ticket, staff)),
        turn._("Due: {due}", due=turn.translator.format_datetime(ticket.due_at))
        + (" ⏰" if is_overdue(ticket.due_at, ticket.status, turn.now) else ""),
        turn._("Content: {body}", body=ticket.body[:1500]),
    ]
    if ticket.latitude is not None and ticket.longitude is not None:
        lines.append(turn._("Location: {lat}, {lon}", lat=f"{ticket.latitude:.5f}", lon=f"{ticket.longitude:.5f}"))
    files = await ticket_repo.attachments(turn.session, id_of(ticket))
    if files:
        lines.append(turn._("Files: {count} (open them in the dashboard)", count=len(files)))
    lines.append("")
    for event in await ticket_repo.timeline(turn.session, id_of(ticket), public_only=False):
        marker = "🔒 " if not event.public else ""
        lines.append(f"• {turn.translator.format_datetime(event.created_at)} {marker}{event.kind}: {event.text[:500]}")
    rows: list[tuple[Button, ...]] = []
    if TRANSITIONS[TicketStatus(ticket.status)]:
        rows.append((Button(turn._("↩️ Reply to the citizen"), OfficerReply(ticket.code).pack()),))
        rows.append((Button(turn._("🔄 Change status"), OfficerStatus(ticket.code).pack()),))
    rows.append((Button(turn._("🔒 Internal note"), OfficerNote(ticket.code).pack()),))
    rows.append(_reports_row(turn))
    return [Reply("\n".join(lines)[:4000], buttons=tuple(rows))]


async def _officer(turn: Turn) -> Staff:
    """The linked officer pressing an of:… button, or a stale button."""
    staff = await linked_officer(turn)
    if staff is None:
        raise StaleAction
    return staff


async def _ticket(turn: Turn) -> tuple[Staff, Ticket]:
    """The officer and the ticket a button names, if the officer may see it; else a stale button."""
    staff = await _officer(turn)
    ticket = await ticket_repo.get_for_staff(turn.session, staff, turn.pressed_as(OfficerTicket).code)
    if ticket is None:
        raise StaleAction
    return staff, ticket


async def on_home(turn: Turn) -> list[Reply]:
    """of:home: the counts again."""
    await _officer(turn)
    return await home(turn)


async def on_list(turn: Turn) -> list[Reply]:
    """of:list:new|overdue|open."""
    return await _list(turn, await _officer(turn), turn.pressed_as(OfficerList).which)


async def on_open(turn: Turn) -> list[Reply]:
    """of:open: one report with its timeline."""
    staff, ticket = await _ticket(turn)
    turn.reset()
    return await _show(turn, staff, ticket)


async def on_reply(turn: Turn) -> list[Reply]:
    """of:reply: the next text is the reply to the citizen."""
    _, ticket = await _ticket(turn)
    turn.goto(State.officer_reply, code=ticket.code)
    return [Reply(turn._("Type the reply the citizen will receive:"), buttons=_cancel_rows(turn, ticket))]


async def on_note(turn: Turn) -> list[Reply]:
    """of:note: the next text is an internal note."""
    _, ticket = await _ticket(turn)
    turn.goto(State.officer_note, code=ticket.code)
    return [Reply(turn._("Type the internal note (the citizen does not see it):"), buttons=_cancel_rows(turn, ticket))]


def _cancel_rows(turn: Turn, ticket: Ticket) -> tuple[tuple[Button, ...], ...]:
    return ((Button(turn._("✖ Cancel"), OfficerOpen(ticket.code).pack()),),)


async def on_status(turn: Turn) -> list[Reply]:
    """of:status: the statuses the report may move to."""
    _, ticket = await _ticket(turn)
    allowed = sorted(TRANSITIONS[TicketStatus(ticket.status)])
    return [
        Reply(
            turn._("New status for {code}:", code=ticket.code),
            buttons=tuple(
                (Button(status_label(turn, status), OfficerSetStatus(ticket.code, status).pack()),)
                for status in allowed
            ),
        )
    ]


async def on_set_status(turn: Turn) -> list[Reply]:
    """of:set: move the report to a status (a rejection asks the reason first)."""
    staff, ticket = await _ticket(turn)
    new_status = turn.pressed_as(OfficerSetStatus).status
    if new_status not in TRANSITIONS[TicketStatus(ticket.status)]:
        raise StaleAction
    if new_status is TicketStatus.rejected:
        turn.goto(State.officer_reason, code=ticket.code)
        return [Reply(turn._("Why is it not accepted? The citizen will see this reason."))]
    return await _set_status(turn, staff, ticket, new_status, None)


async def _set_status(
    turn: Turn, staff: Staff, ticket: Ticket, status: TicketStatus, reason: str | None
) -> list[Reply]:
    old = ticket.status
    await ticket_repo.change_status(turn.session, ticket, staff, status, turn.now, reason=reason)
    await _audit_ticket(turn, staff, ticket, "ticket.status", old=old, new=status.value, reason=reason or "")
    await notify_citizen(turn, ticket, "status", reason or "")
    turn.reset()
    return [
        Reply(
            turn._(
                "Status of {code} is now “{status}”. The citizen has been told.",
                code=ticket.code,
                status=status_label(turn, status),
            ),
            buttons=(_reports_row(turn),),
        )
    ]


async def on_text(turn: Turn) -> list[Reply]:
    """The text of a reply, a note or a rejection reason."""
    staff = await linked_officer(turn)
    ticket = await ticket_repo.get_for_staff(turn.session, staff, turn.data.get("code", "")) if staff else None
    if staff is None or ticket is None:
        turn.reset()
        raise StaleAction
    if turn.state is State.officer_reason:
        return await _set_status(turn, staff, ticket, TicketStatus.rejected, turn.text)
    if turn.state is State.officer_note:
        await ticket_repo.add_note(turn.session, ticket, staff, turn.text, turn.now)
        await _audit_ticket(turn, staff, ticket, "ticket.note")
        turn.reset()
        return await _show(turn, staff, ticket)
    await ticket_repo.reply(turn.session, ticket, staff, turn.text, turn.now)
    await _audit_ticket(turn, staff, ticket, "ticket.reply")
    await notify_citizen(turn, ticket, "reply", turn.text)
    turn.reset()
    return [
        Reply(
            turn._("Reply sent to the citizen for {code}.", code=ticket.code),
            buttons=(_reports_row(turn),),
        )
    ]


ROUTES = Routes(
    commands={"link": link, "unlink": unlink, "huylienket": unlink, "canbo": home, "officer": home},
    actions={
        OfficerHome: Action(on_home),
        OfficerList: Action(on_list),
        OfficerOpen: Action(on_open),
        OfficerReply: Action(on_reply),
        OfficerNote: Action(on_note),
        OfficerStatus: Action(on_status),
        OfficerSetStatus: Action(on_set_status),
    },
    text={State.officer_reply: on_text, State.officer_note: on_text, State.officer_reason: on_text},
)


async def daily_reminders(session, services, now) -> int:
    """Queue one message per linked officer with new or overdue reports in their area (skipped when
    there are none; at most once a day per officer). Returns how many were queued."""
    from storage import outbox

    queued = 0
    for staff in await staff_repo.linked_staff(session, now, services.web_link):
        if staff.chat_channel is None or staff.chat_user_id is None:  # linked_staff gives linked accounts only
            continue
        tickets = await ticket_repo.list_for_staff(session, staff, statuses=OPEN_STATUSES, now=now, limit=500)
        new = sum(1 for t in tickets if t.status == TicketStatus.new)
        overdue = sum(1 for t in tickets if is_overdue(t.due_at, t.status, now))
        if not new and not overdue:
            continue
        translator = services.catalogs.get(None)
        text = translator.gettext(REMINDER).format(new=new, overdue=overdue)
        day = now.astimezone(services.tz).date().isoformat()
        message = await outbox.enqueue(
            session,
            channel=staff.chat_channel,
            chat_id=staff.chat_user_id,
            now=now,
            payload={
                "text": text,
                "buttons": [[{"label": translator.gettext(N_("📥 Reports")), "action": OfficerHome().pack()}]],
            },
            priority=outbox.PRIORITY_REMINDER,
            dedupe_key=f"reminder:{staff.id}:{day}",
        )
        queued += message is not None
    return queued
