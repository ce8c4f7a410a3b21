"""Telling a citizen about their ticket through the outbox, in the citizen's own language."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.i18n import N_, Catalogs, Translator
from handlers.actions import TicketShow
from handlers.reach import tell
from handlers.tracking import STATUS_LABELS
from handlers.turn import Turn
from storage.models import OutboxMessage, Ticket, TicketStatus

REPLY = N_("📬 Answer to your report {code}:\n\n{text}\n\nTo see the whole report, send /tracuu {code}.")
STATUS = N_("📬 Your report {code} is now “{status}”.{reason}\n\nTo see it, send /tracuu {code}.")


async def notify_citizen(turn: Turn, ticket: Ticket, what: str, text: str) -> None:
    """Queue a message about a staff reply (`what`="reply") or a status change ("status")."""
    await queue_ticket_message(turn.session, turn.services.catalogs, turn.now, ticket, what, text)


async def queue_ticket_message(
    session: AsyncSession,
    catalogs: Catalogs,
    now: datetime,
    ticket: Ticket,
    what: str,
    text: str,
) -> OutboxMessage | None:
    """The same outside a conversation (the dashboard); None when the citizen cannot be reached."""
    return await tell(
        session,
        catalogs,
        ticket.citizen_id,
        lambda translator: _message(translator, ticket, what, text),
        dedupe_key=f"ticket:{ticket.id}:{what}:{now.isoformat()}",
        now=now,
    )


def _message(translator: Translator, ticket: Ticket, what: str, text: str) -> dict:
    """The message about a reply or a status change, with a button to see the report."""
    if what == "reply":
        message = translator.gettext(REPLY).format(code=ticket.code, text=text)
    else:
        status = translator.gettext(STATUS_LABELS[TicketStatus(ticket.status)])
        reason = f"\n{text}" if text else ""
        message = translator.gettext(STATUS).format(code=ticket.code, status=status, reason=reason)
    button = {"label": translator.gettext(N_("📋 See the report")), "action": TicketShow(ticket.code).pack()}
    return {"text": message, "buttons": [[button]]}
