"""Notices (broadcasts): queueing those whose time has come, in every recipient's language."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.areas import PROVINCE_CODE
from content.i18n import N_, SUPPORTED
from handlers.actions import NoticeCancel, NoticeSend
from handlers.menu import main_menu
from handlers.officer import linked_officer, not_linked
from handlers.router import Action, Routes
from handlers.states import State
from handlers.turn import Services, StaleAction, Turn
from handlers.types import Button, Reply
from storage import audit, broadcasts
from storage.models import Staff, StaffRole

log = logging.getLogger(__name__)

STOP_LABEL = N_("🔕 Stop notices")
MAX_NOTICE = 1500


def stop_labels(services: Services) -> dict[str, str]:
    """The "stop notices" button in each language."""
    return {locale: services.catalogs.get(locale).gettext(STOP_LABEL) for locale in SUPPORTED}


async def queue_due(session: AsyncSession, services: Services, now: datetime) -> int:
    """Fan every broadcast whose time has come out into the outbox; return how many messages."""
    total = 0
    for broadcast in await broadcasts.claim_due(session, now):
        count = await broadcasts.fan_out(
            session,
            broadcast,
            now=now,
            default_locale=services.catalogs.default_locale,
            stop_labels=stop_labels(services),
        )
        log.info("broadcast %s queued for %d citizens", broadcast.id, count)
        total += count
    await broadcasts.finish_done(session)
    return total


# --- an officer's notice from the phone ---------------------------------------------------------


def _target(staff: Staff) -> dict:
    """Where an officer may send: a commune officer to their commune, others to the province."""
    if staff.role == StaffRole.commune and staff.area_code:
        return {"areas": [staff.area_code]}
    return {"areas": [PROVINCE_CODE]}


async def start_notice(turn: Turn) -> list[Reply]:
    """/thongbao: a linked officer writes a notice to the subscribed households of their area."""
    staff = await linked_officer(turn)
    if staff is None:
        return not_linked(turn)
    turn.goto(State.notice_text)
    return [
        Reply(
            turn._(
                "Type the notice for the households of {area} (one message, at most 1,500 characters):",
                area=_area_name(turn, staff),
            ),
            buttons=((Button(turn._("✖ Cancel"), NoticeCancel().pack()),),),
        )
    ]


def _area_name(turn: Turn, staff: Staff) -> str:
    code = _target(staff)["areas"][0]
    record = turn.services.areas.get(code)
    return record.label if record else code


async def on_notice_text(turn: Turn) -> list[Reply]:
    """The notice's text: show how many households it will reach and ask to confirm."""
    staff = await linked_officer(turn)
    if staff is None:
        turn.reset()
        raise StaleAction
    text = turn.text[:MAX_NOTICE]
    reach = await broadcasts.count_recipients(turn.session, _target(staff), turn.services.catalogs.default_locale)
    turn.goto(State.notice_confirm, text=text)
    return [
        Reply(
            turn._(
                "This notice will go to {count} subscribed household(s) of {area} (at night it waits for the "
                "morning):\n\n{text}",
                count=reach,
                area=_area_name(turn, staff),
                text=text,
            ),
            buttons=(
                (Button(turn._("📣 Send now"), NoticeSend().pack()),),
                (Button(turn._("✖ Cancel"), NoticeCancel().pack()),),
            ),
        )
    ]


async def on_cancel(turn: Turn) -> list[Reply]:
    """Drop the notice being written."""
    turn.reset()
    return [main_menu(turn, turn._("OK, the notice was not sent."))]


async def on_send(turn: Turn) -> list[Reply]:
    """Send the notice being written."""
    staff = await linked_officer(turn)
    text = turn.data.get("text")
    if staff is None or not text:
        raise StaleAction
    target = _target(staff)
    broadcast = await broadcasts.create_broadcast(
        turn.session,
        texts={"vi": text},
        target=target,
        send_at=turn.now,
        now=turn.now,
        author=staff.username,
        author_staff_id=staff.id,
    )
    await audit.record(
        turn.session,
        staff,
        "broadcast.create",
        now=turn.now,
        object_type="broadcast",
        object_id=str(broadcast.id),
        target=target,
        via="chat",
    )
    turn.reset()
    return [
        Reply(
            turn._(
                "The notice is on its way (number {id}). Households receive it within a few minutes.", id=broadcast.id
            )
        )
    ]


NOTICE_STATES = frozenset({State.notice_text, State.notice_confirm})

ROUTES = Routes(
    commands={"thongbao": start_notice, "notice": start_notice},
    actions={NoticeSend: Action(on_send, NOTICE_STATES), NoticeCancel: Action(on_cancel, NOTICE_STATES)},
    text={State.notice_text: on_notice_text},
)
