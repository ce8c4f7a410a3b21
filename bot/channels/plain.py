"""Shared rendering for channels without inline keyboards (Zalo Bot API, Zalo Official Account).

Buttons become a numbered list. In a turn the engine does this itself (`Capabilities(buttons=False)`)
and remembers the offered choices. `typed_choice` turns "2", or a label typed without diacritics,
back into the button's action before the turn (`handlers.router.choice_for`), so handlers see a
press exactly as on Telegram. Messages sent outside a turn (notices, staff replies from the outbox)
use `offer_choices`: their buttons are numbered after the choices already on offer and added to
them, so both keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.i18n import Catalogs, Translator
from handlers.render import split_text
from handlers.router import CHOICES_KEY, choice_for, stored_choice
from handlers.states import State
from handlers.types import Button, Reply
from storage import repo
from storage.db import SessionFactory
from storage.models import Citizen

# Notices add their buttons to what is on offer; past this many, numbering starts again at 1.
MAX_CHOICES = 30


@dataclass(frozen=True)
class Offered:
    """What `offer_choices` found: the first number to use, and the recipient's language."""

    first: int
    locale: str | None


def numbered(reply: Reply, hint: str, first: int = 1) -> Reply:
    """The reply with its buttons as a list "1. …", numbered from `first`, and a hint under it."""
    buttons = reply.all_buttons()
    if not buttons:
        return reply
    lines = [f"{number}. {button.label}" for number, button in enumerate(buttons, start=first)]
    return Reply(text=f"{reply.text}\n\n" + "\n".join(lines) + f"\n\n({hint})", image=reply.image)


def text_parts(text: str, limit: int) -> list[str]:
    """A text as messages of at most `limit` characters, cut at paragraph or sentence ends when
    possible (platforms refuse empty messages, so an empty text gives none)."""
    return split_text(text, limit)


def caption_and_rest(text: str, limit: int) -> tuple[str, list[str]]:
    """A photo's caption (the first part of the text) and the messages that follow it."""
    parts = split_text(text, limit)
    return (parts[0], parts[1:]) if parts else ("", [])


def cannot_read(translator: Translator, *, sticker: bool = False) -> Reply:
    """The polite answer to a sticker or to a kind of message the bot cannot read (files, …)."""
    if sticker:
        return Reply(translator.gettext(
            "Thank you for the sticker! I can only read text and photos. Please type your question in words."
        ))
    return Reply(translator.gettext(
        "Sorry, I cannot read this kind of message. Please type your question in words "
        "(with or without accents is fine)."
    ))


async def number_outgoing(
    sessions: SessionFactory, catalogs: Catalogs, channel: str, user_id: str, replies: list[Reply], *,
    now: datetime, ttl: timedelta,
) -> tuple[list[Reply], Translator | None]:
    """An outbox message's replies with their buttons numbered after the choices already offered
    (which they join), and the recipient's language; unchanged when there are no buttons. The caller
    holds the citizen's lock."""
    buttons = [button for reply in replies for button in reply.all_buttons()]
    if not buttons:
        return replies, None
    offered = await offer_choices(sessions, channel, user_id, buttons, now=now, ttl=ttl)
    translator = catalogs.get(offered.locale)
    hint = translator.gettext("Reply with a number to choose.")
    first, rendered = offered.first, []
    for reply in replies:
        rendered.append(numbered(reply, hint, first))
        first += len(reply.all_buttons())
    return rendered, translator


async def typed_choice(sessions: SessionFactory, channel: str, user_id: str, text: str, *, now: datetime) -> str | None:
    """The action of the offered choice a typed text names ("2", "dong y"), or None.

    Commands stay commands. The caller holds the citizen's lock, so the choices read here are
    the ones the turn will see.
    """
    if text.lstrip().startswith("/"):
        return None
    async with sessions() as session:
        citizen = await _citizen(session, channel, user_id)
        conversation = await repo.load_conversation(session, citizen.id, now=now) if citizen and citizen.id else None
    choices = (conversation.data or {}).get(CHOICES_KEY, []) if conversation is not None else []
    return choice_for(text, choices) if choices else None


async def offer_choices(
    sessions: SessionFactory, channel: str, user_id: str, buttons: list[Button], *, now: datetime, ttl: timedelta
) -> Offered:
    """Add buttons of a message sent outside a turn to the citizen's offered choices.

    The caller holds the citizen's lock (a turn must not run meanwhile). Returns the number the
    new buttons start at. A recipient who is not a citizen of the channel gets numbers that work
    nowhere, which is why callers only number when `buttons` is not empty.
    """
    async with sessions() as session:
        citizen = await _citizen(session, channel, user_id)
        if citizen is None or citizen.id is None:
            return Offered(1, None)
        conversation = await repo.load_conversation(session, citizen.id, now=now)
        state = conversation.state if conversation else State.idle
        data = dict(conversation.data) if conversation else {}
        choices = list(data.get(CHOICES_KEY, []))
        if len(choices) + len(buttons) > MAX_CHOICES:
            choices = []
        first = len(choices) + 1
        data[CHOICES_KEY] = choices + [stored_choice(button) for button in buttons]
        await repo.save_conversation(session, citizen.id, state, data, now=now, ttl=ttl)
        await session.commit()
        return Offered(first, citizen.locale)


async def _citizen(session: AsyncSession, channel: str, user_id: str) -> Citizen | None:
    return (await session.exec(
        select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == user_id)
    )).first()
