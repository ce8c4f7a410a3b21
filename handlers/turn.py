"""One turn of a conversation: what came in, who sent it, and where they are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from content.areas import AreaDirectory
from content.i18n import Catalogs, Translator
from content.library import Library
from handlers.actions import Payload
from handlers.states import State
from handlers.types import Attachment, Capabilities, Incoming, Reply
from storage import address_limits
from storage.address_limits import AddressLimits, Limit
from storage.models import Citizen, TicketKind
from storage.ticket_rules import DEFAULT_DUE_DAYS


@dataclass(frozen=True)
class TicketPolicy:
    """Rules for feedback tickets: answer deadlines per kind, holidays, daily limit per citizen."""

    due_days: dict[TicketKind, int] = field(default_factory=lambda: dict(DEFAULT_DUE_DAYS))
    holidays: frozenset[date] = frozenset()
    daily_limit: int = 5


@dataclass(frozen=True)
class Services:
    """What handlers may use besides the database: content, language, the local time zone."""

    areas: AreaDirectory
    catalogs: Catalogs
    library: Library
    tz: ZoneInfo
    tickets: TicketPolicy = field(default_factory=TicketPolicy)
    address_limits: AddressLimits = field(default_factory=AddressLimits)
    web_link: timedelta = timedelta(hours=12)  # an officer link made from the web chat lasts a staff session


class StaleAction(Exception):
    """A button that no longer fits the conversation (old menu, unknown data)."""


class NotThisStep(Exception):
    """Typed text a step's own handler cannot use: the router asks the step again (`Fallbacks.in_flow`)."""


class OutOfFlow(Exception):
    """Typed text that is not for an optional step at all (a question at the greeting): the router
    leaves the flow, shows `note`, and reads the text as a message outside any flow."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


P = TypeVar("P", bound=Payload)


@dataclass
class Turn:
    """Everything a handler needs for one incoming message; handlers change it and return replies."""

    incoming: Incoming
    citizen: Citizen
    session: AsyncSession
    services: Services
    translator: Translator
    now: datetime
    capabilities: Capabilities = field(default_factory=Capabilities)
    state: State = State.idle
    data: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # the words after a command: "/tracuu PA-ABC234" → ["PA-ABC234"]
    pressed: Payload | None = None  # the typed value of the button pressed (or chosen by number or words)
    delete_citizen: bool = False

    def _(self, message: str, **values: object) -> str:
        """Translate a message into the citizen's language and fill in `{named}` values."""
        text = self.translator.gettext(message)
        return text.format(**values) if values else text

    def pressed_as(self, kind: type[P]) -> P:
        """The pressed button's value, which the route promises is a `kind`; else a stale button."""
        if not isinstance(self.pressed, kind):
            raise StaleAction
        return self.pressed

    @property
    def text(self) -> str:
        """The typed text (already cleaned), or an empty string."""
        return self.incoming.text or ""

    @property
    def today(self) -> date:
        """The local date of this turn (what decides which rules are in force)."""
        return self.now.astimezone(self.services.tz).date()

    @property
    def locale(self) -> str:
        """The language this turn answers in."""
        return self.translator.locale

    @property
    def consented(self) -> bool:
        """Whether the citizen agreed to have personal data stored."""
        return self.citizen.consent_at is not None

    async def media(self) -> tuple[Attachment, ...]:
        """The files of this message, kept by the channel (only flows that need files ask)."""
        attachments = self.incoming.attachments
        if attachments and self.incoming.fetch is not None:
            return await self.incoming.fetch(attachments)
        return attachments

    async def address_allows(self, action: str, limit: Limit) -> bool:
        """Whether the client address behind this message may do `action` once more now (counting it),
        on channels that give one (`Incoming.origin`, the web chat); always True on the others."""
        if self.incoming.origin is None:
            return True
        return await address_limits.take(
            self.session, self.incoming.origin, action, limit, now=self.now, tz=self.services.tz
        )

    def goto(self, state: State, **data: Any) -> None:
        """Enter a state with fresh flow data."""
        self.state = state
        self.data = dict(data)

    def reset(self) -> None:
        """Leave any flow."""
        self.goto(State.idle)

    def use_locale(self, locale: str) -> None:
        """Switch this turn's language (after the citizen chose one)."""
        self.translator = self.services.catalogs.get(locale)


Handler = Callable[[Turn], Awaitable[list[Reply]]]
