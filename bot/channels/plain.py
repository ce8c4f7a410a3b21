"""Shared rendering for channels without inline keyboards (Zalo Bot API, Zalo Official Account).

`PlainChannel` is what both channels do alike: keep their webhook events in an inbox, send texts in
parts and photos with captions, deliver outbox messages, answer in the citizen's language, keep the
files citizens send, stop.

Buttons become a numbered list. In a turn the engine does this itself (`Capabilities(buttons=False)`)
and remembers the offered choices. `typed_choice` turns "2", or a label typed without diacritics,
back into the button's action before the turn (`handlers.router.choice_for`), so handlers see a
press exactly as on Telegram. Messages sent outside a turn (notices, staff replies from the outbox)
use `offer_choices`: their buttons are numbered after the choices already on offer and added to
them, so both keep working.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from yarl import URL

from bot.channels import remote_media
from bot.channels.inbox import Inbox
from bot.channels.unsent import send_in_turn
from bot.ordering import KeyedLocks
from bot.sender import SendError
from content.i18n import Catalogs, Translator
from handlers.engine import Engine
from handlers.render import number_choices, split_text
from handlers.router import CHOICES_KEY, choice_for, stored_choice
from handlers.states import State
from handlers.types import Attachment, Button, Capabilities, Reply
from storage import repo
from storage.db import SessionFactory
from storage.models import Citizen

if TYPE_CHECKING:
    from bot.config import Settings

# Notices add their buttons to what is on offer; past this many, numbering starts again at 1.
MAX_CHOICES = 30


@dataclass(frozen=True)
class Offered:
    """What `offer_choices` found: the first number to use, and the recipient's language."""

    first: int
    locale: str | None


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
        return Reply(
            translator.gettext(
                "Thank you for the sticker! I can only read text and photos. Please type your question in words."
            )
        )
    return Reply(
        translator.gettext(
            "Sorry, I cannot read this kind of message. Please type your question in words "
            "(with or without accents is fine)."
        )
    )


def as_dict(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (for reading platforms' answers)."""
    return value if isinstance(value, dict) else {}


async def post_json(
    http: aiohttp.ClientSession, url: str | URL, *, timeout: float, **request: object
) -> tuple[int, object]:
    """POST to a platform's API: the answer's status and JSON body (None when it is no JSON). Raises
    aiohttp.ClientError or TimeoutError when the platform cannot be reached."""
    async with http.post(url, timeout=aiohttp.ClientTimeout(total=timeout), **request) as response:  # type: ignore[arg-type]  # the callers pass http.post's own keywords
        try:
            return response.status, await response.json(content_type=None)
        except ValueError:
            return response.status, None


async def number_outgoing(
    sessions: SessionFactory,
    catalogs: Catalogs,
    channel: str,
    user_id: str,
    replies: list[Reply],
    *,
    now: datetime,
    ttl: timedelta,
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
        rendered.append(number_choices(reply, hint, first))
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
    return (
        await session.exec(select(Citizen).where(Citizen.channel == channel, Citizen.channel_user_id == user_id))
    ).first()


class PlainChannel(ABC):
    """The part of a channel without buttons that does not depend on its platform. A subclass sets
    the class attributes, opens `_http` as it starts, handles the events its webhook stored
    (`_from_record`), stops its own tasks (`_stop_tasks`), and sends one text (`_send_text`) and one
    photo with its caption (`_send_image`)."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    errors: ClassVar[type[Exception]]  # what the platform's client raises

    def __init__(
        self, settings: Settings, engine: Engine, locks: KeyedLocks, clock: Callable[[], datetime], media_base: URL
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.locks = locks
        self.clock = clock
        self.media_base = media_base  # where the platform keeps what citizens send
        self._http: aiohttp.ClientSession | None = None
        self.inbox = Inbox(
            engine.sessions, self.name, self._from_record, locks, clock, parallel=settings.max_concurrent_updates
        )
        self._receiving = False  # whether this process handles the events the webhook stores

    async def stop(self) -> None:
        """Stop handling stored events (those being handled finish, briefly), stop the channel's own
        tasks, close the connections."""
        if self._receiving:
            await self.inbox.stop()
        await self._stop_tasks()
        if self._http is not None:
            await self._http.close()

    @abstractmethod
    async def _stop_tasks(self) -> None:
        """Stop what the channel runs beside the inbox (polling, token upkeep)."""

    @abstractmethod
    async def _from_record(self, body: dict) -> None:
        """Handle an event its webhook stored (the inbox holds the citizen's lock)."""

    @staticmethod
    @abstractmethod
    def sender_error(error: Exception) -> SendError:
        """The kind of an error of `errors` that the outbox sender knows."""

    @staticmethod
    @abstractmethod
    def for_a_while(error: Exception) -> bool:
        """Whether the platform refused a reply only for a while, so that the outbox sends it later."""

    @abstractmethod
    async def _send_text(self, chat_id: str, text: str) -> None:
        """Send one text of at most `max_text` characters."""

    @abstractmethod
    async def _send_image(self, chat_id: str, image: str, caption: str) -> bool:
        """Send a photo with its caption; False, sending nothing, when it cannot be shown."""

    async def send(self, chat_id: str, replies: list[Reply], translator: Translator | None = None) -> None:
        """Send replies in order: texts in parts of at most `max_text` characters, photos with the
        first part as caption; a photo that cannot be shown becomes a note under the text."""
        limit = self.capabilities.max_text
        for reply in replies:
            if not reply.image:
                for part in text_parts(reply.text, limit):
                    await self._send_text(chat_id, part)
                continue
            caption, rest = caption_and_rest(reply.text, limit)
            if not await self._send_image(chat_id, reply.image, caption):
                translator = translator or await self.translator(chat_id)
                note = translator.gettext("(This message comes with a photo that cannot be shown here.)")
                await self.send(chat_id, [Reply(f"{reply.text}\n\n{note}")])
                continue
            for part in rest:
                await self._send_text(chat_id, part)

    async def deliver(self, chat_id: str, replies: list[Reply]) -> None:
        """Send an outbox message (a notice, a staff reply): its buttons are numbered after the
        choices already offered and join them. Errors are given the kinds the sender knows."""
        try:
            async with self.locks.hold((self.name, chat_id)):
                replies, translator = await number_outgoing(
                    self.engine.sessions,
                    self.engine.services.catalogs,
                    self.name,
                    chat_id,
                    replies,
                    now=self.clock(),
                    ttl=self.engine.conversation_ttl,
                )
                await self.send(chat_id, replies, translator)
        except self.errors as exc:
            raise self.sender_error(exc) from exc

    async def answer(
        self, chat_id: str, replies: list[Reply], *, update_key: str | None, translator: Translator | None = None
    ) -> None:
        """Send a turn's replies one by one; from one the platform refuses for a while on, the outbox sends them."""
        await send_in_turn(
            self.engine.sessions,
            channel=self.name,
            chat_id=chat_id,
            replies=replies,
            update_key=update_key,
            send=lambda reply: self.send(chat_id, [reply], translator),
            for_a_while=self.for_a_while,
            clock=self.clock,
        )

    async def answer_unreadable(self, chat_id: str, user_id: str, *, sticker: bool, update_key: str | None) -> None:
        """Answer a sticker, or a kind of message the bot cannot read, in the citizen's language."""
        translator = await self.translator(user_id)
        await self.answer(
            chat_id, [cannot_read(translator, sticker=sticker)], update_key=update_key, translator=translator
        )

    async def translator(self, user_id: str) -> Translator:
        """The citizen's language (the default for someone the bot does not know)."""
        async with self.engine.sessions() as session:
            citizen = await _citizen(session, self.name, user_id)
        return self.engine.services.catalogs.get(citizen.locale if citizen is not None else None)

    async def typed_choice(self, user_id: str, text: str) -> str | None:
        """The action of the offered choice a typed text names, or None (see `typed_choice`)."""
        return await typed_choice(self.engine.sessions, self.name, user_id, text, now=self.clock())

    async def _download(self, attachments: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
        """Keep the photos (and voice messages) citizens send, checking size and type: the platform's
        links do not last."""
        assert self._http is not None
        source = remote_media.zalo_source(self.media_base)
        return await remote_media.keep(
            self._http, self.settings.data_dir, self.settings.media_max_bytes, attachments, source
        )
