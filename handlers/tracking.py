"""A citizen's own reports: list, status and public timeline, adding to an open one, rating."""

from __future__ import annotations

from content.i18n import N_
from handlers import nominate
from handlers.actions import Menu, TicketAction, TicketAdd, TicketRate, TicketResolved, TicketShow, TicketStars
from handlers.menu import main_menu
from handlers.router import Action, Routes
from handlers.states import State
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from storage import tickets as ticket_repo
from storage.core import id_of
from storage.models import EventKind, Ticket, TicketStatus
from storage.ticket_rules import normalize_code

STATUS_LABELS = {
    TicketStatus.new: N_("received"),
    TicketStatus.assigned: N_("assigned to an officer"),
    TicketStatus.in_progress: N_("being handled"),
    TicketStatus.answered: N_("answered"),
    TicketStatus.closed: N_("closed"),
    TicketStatus.rejected: N_("not accepted"),
}
STARS = range(1, 6)
OPEN = frozenset({TicketStatus.new, TicketStatus.assigned, TicketStatus.in_progress, TicketStatus.answered})


def status_label(turn: Turn, status: str) -> str:
    """A ticket status in the citizen's words."""
    return turn._(STATUS_LABELS[TicketStatus(status)])


async def _own(turn: Turn, code: str | None) -> Ticket | None:
    """The citizen's own ticket with this code."""
    normalized = normalize_code(code or "")
    ticket = await ticket_repo.get_by_code(turn.session, normalized) if normalized else None
    return ticket if ticket is not None and ticket.citizen_id == turn.citizen.id else None


async def track(turn: Turn) -> list[Reply]:
    """/tracuu [CODE], "My feedback": one ticket, or the list of the citizen's tickets."""
    turn.reset()
    if turn.args and nominate.is_nomination_code("".join(turn.args)):
        return await nominate.track(turn, "".join(turn.args))
    if turn.args:
        ticket = await _own(turn, "".join(turn.args))
        if ticket is None:
            return [
                main_menu(
                    turn,
                    turn._(
                        "I found no report of yours with the code {code}. Please check the code.",
                        code=" ".join(turn.args)[:20],
                    ),
                )
            ]
        return await show(turn, ticket)
    mine = await ticket_repo.tickets_of_citizen(turn.session, id_of(turn.citizen))
    if not mine:
        return [main_menu(turn, turn._("You have not sent any feedback yet."))]
    return [
        Reply(
            turn._("Your reports (newest first):"),
            buttons=tuple(
                (
                    Button(
                        f"{t.code} · {status_label(turn, t.status)} · {turn.translator.format_date(t.created_at)}",
                        TicketShow(t.code).pack(),
                    ),
                )
                for t in mine
            ),
        )
    ]


async def show(turn: Turn, ticket: Ticket) -> list[Reply]:
    """A ticket's status, dates and public timeline, with what the citizen can do next."""
    format_date = turn.translator.format_datetime
    lines = [
        turn._("Report {code}", code=ticket.code),
        turn._("Status: {status}", status=status_label(turn, ticket.status)),
        turn._("Sent: {date}", date=format_date(ticket.created_at)),
        turn._("Expected answer by: {due}", due=turn.translator.format_date(ticket.due_at)),
        "",
    ]
    for event in await ticket_repo.timeline(turn.session, id_of(ticket), public_only=True):
        lines.append(f"• {format_date(event.created_at)} — {_event_text(turn, event)}")
    rows: list[tuple[Button, ...]] = []
    if ticket.status in OPEN:
        rows.append((Button(turn._("✍️ Add a message or photo"), TicketAdd(ticket.code).pack()),))
    if ticket.status in (TicketStatus.answered, TicketStatus.closed) and ticket.rating is None:
        rows.append((Button(turn._("⭐ Rate the answer"), TicketRate(ticket.code).pack()),))
    rows.append((Button(turn._("📋 My feedback"), Menu("mine").pack()),))
    return [Reply("\n".join(lines).strip()[:4000], buttons=tuple(rows))]


def _event_text(turn: Turn, event) -> str:
    """One public timeline entry."""
    if event.kind == EventKind.created:
        return turn._("You sent: {text}", text=event.text[:300])
    if event.kind == EventKind.citizen_message:
        return turn._("You added: {text}", text=event.text[:300])
    if event.kind == EventKind.reply:
        return turn._("Answer from staff: {text}", text=event.text)
    if event.kind == EventKind.status:
        return turn._("Status changed to “{status}”", status=status_label(turn, event.new_status or "new")) + (
            f": {event.text}" if event.text else ""
        )
    if event.kind == EventKind.rating:
        return turn._("You rated the answer: {text}", text=event.text)
    return event.text


async def _pressed_ticket(turn: Turn) -> Ticket:
    """The citizen's own ticket a button names, or a stale button."""
    ticket = await _own(turn, turn.pressed_as(TicketAction).code)
    if ticket is None:
        raise StaleAction
    return ticket


async def on_show(turn: Turn) -> list[Reply]:
    """tk:show: one of the citizen's reports."""
    ticket = await _pressed_ticket(turn)
    turn.reset()
    return await show(turn, ticket)


async def on_add(turn: Turn) -> list[Reply]:
    """tk:add: the next message or photo is added to an open report."""
    ticket = await _pressed_ticket(turn)
    if ticket.status not in OPEN:
        raise StaleAction
    turn.goto(State.ticket_add, code=ticket.code)
    return [
        Reply(
            turn._("Please write what you want to add to {code}, or send a photo.", code=ticket.code),
            buttons=((Button(turn._("✖ Cancel"), TicketShow(ticket.code).pack()),),),
        )
    ]


async def on_rate(turn: Turn) -> list[Reply]:
    """tk:rate: ask the stars."""
    ticket = await _pressed_ticket(turn)
    if ticket.rating is not None:
        raise StaleAction
    return [
        Reply(
            turn._("How satisfied are you with the answer? (1 = not at all, 5 = very)"),
            buttons=(tuple(Button("⭐" * n, TicketStars(ticket.code, n).pack()) for n in STARS),),
        )
    ]


async def on_stars(turn: Turn) -> list[Reply]:
    """tk:stars: ask whether the problem was resolved."""
    ticket = await _pressed_ticket(turn)
    stars = turn.pressed_as(TicketStars).stars
    if stars not in STARS:
        raise StaleAction
    return [
        Reply(
            turn._("Has your problem been resolved?"),
            buttons=(
                (
                    Button(turn._("Yes, resolved"), TicketResolved(ticket.code, stars, "yes").pack()),
                    Button(turn._("No, not yet"), TicketResolved(ticket.code, stars, "no").pack()),
                ),
            ),
        )
    ]


async def on_resolved(turn: Turn) -> list[Reply]:
    """tk:resolved: store the rating (a "no" reopens the report)."""
    ticket = await _pressed_ticket(turn)
    pressed = turn.pressed_as(TicketResolved)
    if ticket.rating is not None or pressed.stars not in STARS:
        raise StaleAction
    await ticket_repo.rate(turn.session, ticket, pressed.stars, pressed.resolved == "yes", turn.now)
    text = (
        turn._("Thank you for your rating!")
        if pressed.resolved == "yes"
        else turn._("Thank you. Your report has been reopened so that staff look at it again.")
    )
    return [main_menu(turn, text)]


async def on_added(turn: Turn) -> list[Reply]:
    """A message or photo added to an open ticket."""
    ticket = await _own(turn, turn.data.get("code"))
    if ticket is None or ticket.status not in OPEN:
        turn.reset()
        raise StaleAction
    files = [
        ("photo", a.path, a.mime_type or "image/jpeg", a.size or 0)
        for a in await turn.media()
        if a.kind == "photo" and a.path
    ]
    if not turn.text and not files:
        return [Reply(turn._("Please write a message or send a photo."))]
    await ticket_repo.add_citizen_message(turn.session, ticket, turn.text or turn._("(photo)"), files, turn.now)
    turn.reset()
    return [main_menu(turn, turn._("Added to {code}. Staff will see it.", code=ticket.code))]


ROUTES = Routes(
    commands={"tracuu": track, "track": track},
    actions={
        Menu("mine"): Action(track),
        TicketShow: Action(on_show),
        TicketAdd: Action(on_add),
        TicketRate: Action(on_rate),
        TicketStars: Action(on_stars),
        TicketResolved: Action(on_resolved),
    },
    text={State.ticket_add: on_added},
    media={State.ticket_add: on_added},
)
