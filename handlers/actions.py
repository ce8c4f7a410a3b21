"""Button actions as typed values, packed and parsed in one place.

A button carries a short string that comes back when it is pressed: "fb:kind:complaint",
"tk:stars:PA-ABC234:4", "menu:home". Each shape is a frozen dataclass here whose `prefix` is the
string's fixed start and whose fields are the parts after it, in order, separated by ":"
(aiogram's `CallbackData`). `pack()` writes the string and refuses one over Telegram's 64-byte
limit or one that would not read back the same; `unpack()` reads it, or gives None for anything
that does not fit (an old, mangled or forged payload, answered as a stale button).

The strings are a wire format: they sit in chats already sent and in the outbox, so a prefix or
the order of fields never changes. Field types: `str` (not empty, no ":"), `int` (1 to 9 digits),
a `StrEnum`, a `Literal` of words; a trailing field may be `… | None = None`, left out when None.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, ClassVar, Literal, Self

from content.selfcheck import Zone
from storage.models import HouseholdStatus, TicketKind, TicketStatus

MAX_BYTES = 64  # Telegram's limit for callback_data, in UTF-8 bytes
SEPARATOR = ":"
_NUMBER = re.compile(r"[0-9]{1,9}")
PAYLOADS: dict[str, type[Payload]] = {}  # every payload class by its prefix


class ActionTooLong(ValueError):
    """A packed action over `MAX_BYTES`: Telegram would refuse the whole message."""


@typing.dataclass_transform(frozen_default=True)
class Payload:
    """Base of every button action: subclasses name their `prefix` (`class X(Payload, prefix="x")`)
    and become frozen dataclasses of the fields they declare."""

    prefix: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set on each subclass

    def __init_subclass__(cls, prefix: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)
        if prefix is None:  # a shared shape; its subclasses name the prefixes
            return
        if prefix in PAYLOADS:
            raise ValueError(f"action prefix defined twice: {prefix!r}")
        cls.prefix = prefix
        PAYLOADS[prefix] = cls

    def pack(self) -> str:
        """The string a button carries; ValueError when it would not read back as this value,
        `ActionTooLong` when it is over 64 bytes."""
        values = [_write(getattr(self, field.name)) for field in dataclasses.fields(self)]
        while values and values[-1] is None:
            values.pop()
        packed = SEPARATOR.join([self.prefix, *(value or "" for value in values)])
        size = len(packed.encode("utf-8"))
        if size > MAX_BYTES:
            raise ActionTooLong(f"{packed!r} is {size} bytes; a button action holds at most {MAX_BYTES}")
        if type(self).unpack(packed) != self:
            raise ValueError(f"{self!r} does not pack into an action that reads back ({packed!r})")
        return packed

    @classmethod
    def unpack(cls, action: str) -> Self | None:
        """The value a string holds, or None when it is not one of this class."""
        if action == cls.prefix:
            parts: list[str] = []
        elif action.startswith(cls.prefix + SEPARATOR):
            parts = action[len(cls.prefix) + 1 :].split(SEPARATOR)
        else:
            return None
        shape = _shape(cls)  # type: ignore[arg-type]  # a class is hashable; mypy does not count type[Self] as Hashable
        required = sum(1 for _, _, optional in shape if not optional)
        if not required <= len(parts) <= len(shape):
            return None
        values = {}
        for (name, kind, _), part in zip(shape, parts, strict=False):
            value = _read(kind, part)
            if value is None:
                return None
            values[name] = value
        return cls(**values)


def parse(action: str) -> Payload | None:
    """The typed value of any action string (the longest prefix that fits), or None."""
    parts = action.split(SEPARATOR)
    for count in range(len(parts), 0, -1):
        kind = PAYLOADS.get(SEPARATOR.join(parts[:count]))
        if kind is not None:
            return kind.unpack(action)
    return None


@cache
def _shape(cls: type[Payload]) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, may be left out) of each field, in order."""
    hints = typing.get_type_hints(cls)
    shape = []
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        optional = False
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
            optional = True
        shape.append((field.name, kind, optional))
    return tuple(shape)


def _read(kind: Any, part: str) -> Any:
    """One part as a value of `kind`, or None when it is not one."""
    if typing.get_origin(kind) is Literal:
        return part if part in typing.get_args(kind) else None
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(part)
        except ValueError:
            return None
    if kind is int:
        return int(part) if _NUMBER.fullmatch(part) else None
    return part or None


def _write(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


# --- menu, settings, privacy ------------------------------------------------------------------------

MenuItem = Literal[
    "home",
    "help",
    "faq",
    "selfcheck",
    "stories",
    "quiz",
    "polls",
    "dialogues",
    "feedback",
    "mine",
    "settings",
    "subscribe",
    "unsubscribe",
    "nominate",
]


class Menu(Payload, prefix="menu"):
    """A main-menu entry: "menu:home", "menu:faq", …"""

    item: MenuItem


class Setting(Payload, prefix="set"):
    """Change one setting: "set:language"."""

    what: Literal["consent", "language", "area", "household"]


class PrivacyAsk(Payload, prefix="privacy:ask"):
    """ "Delete my data": ask to confirm."""


class PrivacyAnswer(Payload, prefix="privacy"):
    """The answer to "delete your data?": "privacy:yes" / "privacy:no"."""

    answer: Literal["yes", "no"]


# --- onboarding -------------------------------------------------------------------------------------


class Consent(Payload, prefix="consent"):
    """The answer to storing personal data."""

    answer: Literal["yes", "no"]


class Language(Payload, prefix="lang"):
    """A language code, or "skip"."""

    code: str


class Area(Payload, prefix="area"):
    """A commune code, "other" or "skip"."""

    choice: str


class AreaGroup(Payload, prefix="agroup"):
    """One former district, by its place in the list."""

    index: int


class AreaPage(Payload, prefix="apage"):
    """A page of former districts."""

    page: int


class Household(Payload, prefix="household"):
    """The household status."""

    status: HouseholdStatus


# --- FAQ and stories --------------------------------------------------------------------------------


class FaqShow(Payload, prefix="faq:show"):
    """Show one FAQ entry."""

    faq_id: str


class FaqHelpful(Payload, prefix="faq:up"):
    """👍 under an answer."""

    faq_id: str


class FaqUnhelpful(Payload, prefix="faq:down"):
    """👎 under an answer."""

    faq_id: str


class FaqNone(Payload, prefix="faq:none"):
    """None of the suggested questions fit."""


class FaqForward(Payload, prefix="faq:forward"):
    """Send an unanswered question (its row id) to staff."""

    question: int


class Topic(Payload, prefix="topic"):
    """The questions of a topic; `page` is left out on the first list of topics."""

    topic_id: str
    page: int | None = None


class StoryShow(Payload, prefix="story"):
    """One story."""

    story_id: str


# --- quiz -------------------------------------------------------------------------------------------


class QuizStart(Payload, prefix="quiz:start"):
    """A new round."""


class QuizAnswer(Payload, prefix="quiz:a"):
    """A choice for the question at `position` of round `play`."""

    play: int
    position: int
    choice: int


class QuizName(Payload, prefix="quiz:name"):
    """Whether the player's name may be shown in a contest."""

    play: int
    answer: Literal["yes", "no"]


# --- feedback and nominations: the steps both flows share a shape for -------------------------------


class AreaChoice(Payload):
    """A commune code, or "other"."""

    choice: str


class IdentityChoice(Payload):
    """Show the sender's name, or send anonymously."""

    choice: Literal["named", "anonymous"]


class FeedbackStory(Payload, prefix="fb:story"):
    """Send a story told outside any flow as a report."""


class FeedbackKind(Payload, prefix="fb:kind"):
    """The kind of report."""

    kind: TicketKind


class FeedbackTopic(Payload, prefix="fb:topic"):
    """The report's subject: a topic id or "other"."""

    topic: str


class FeedbackPhotosDone(Payload, prefix="fb:photos:done"):
    """No more photos."""


class FeedbackNoLocation(Payload, prefix="fb:location:skip"):
    """No location."""


class FeedbackArea(AreaChoice, prefix="fb:area"):
    """The report's commune."""


class FeedbackIdentity(IdentityChoice, prefix="fb:identity"):
    """Named or anonymous report."""


class FeedbackEdit(Payload, prefix="fb:edit"):
    """Go back from the summary to one step."""

    what: Literal["message", "area"]


class FeedbackSubmit(Payload, prefix="fb:submit"):
    """Send the report."""


class FeedbackCancel(Payload, prefix="fb:cancel"):
    """Drop the report."""


class NominateWho(Payload, prefix="nm:who"):
    """Who the story is about (`storage.nominations.NOMINEES`)."""

    nominee: str


class NominateArea(AreaChoice, prefix="nm:area"):
    """The nominee's commune."""


class NominatePhotosDone(Payload, prefix="nm:photos:done"):
    """No more photos."""


class NominateConsent(Payload, prefix="nm:consent"):
    """Whose household it is and what they agree to (`storage.nominations.CONSENTS`)."""

    consent: str


class NominateIdentity(IdentityChoice, prefix="nm:identity"):
    """Named or anonymous sender."""


class NominateEdit(Payload, prefix="nm:edit"):
    """Go back from the summary to one step."""

    what: Literal["story", "area"]


class NominateSubmit(Payload, prefix="nm:submit"):
    """Send the nomination."""


class NominateCancel(Payload, prefix="nm:cancel"):
    """Drop the nomination."""


# --- a citizen's reports ----------------------------------------------------------------------------


class TicketAction(Payload):
    """A button about one of the citizen's own reports, by its code."""

    code: str


class TicketShow(TicketAction, prefix="tk:show"):
    """Show the report."""


class TicketAdd(TicketAction, prefix="tk:add"):
    """Add a message or photo."""


class TicketRate(TicketAction, prefix="tk:rate"):
    """Rate the answer: ask the stars."""


class TicketStars(TicketAction, prefix="tk:stars"):
    """Stars given: ask whether it was resolved."""

    stars: int


class TicketResolved(TicketAction, prefix="tk:resolved"):
    """The rating, complete."""

    stars: int
    resolved: Literal["yes", "no"]


# --- officers ---------------------------------------------------------------------------------------


class OfficerHome(Payload, prefix="of:home"):
    """Counts of the officer's reports."""


class OfficerList(Payload, prefix="of:list"):
    """A list of reports."""

    which: Literal["new", "overdue", "open"]


class OfficerTicket(Payload):
    """A button about one report in the officer's scope, by its code."""

    code: str


class OfficerOpen(OfficerTicket, prefix="of:open"):
    """Show the report."""


class OfficerReply(OfficerTicket, prefix="of:reply"):
    """Write a reply to the citizen."""


class OfficerNote(OfficerTicket, prefix="of:note"):
    """Write an internal note."""


class OfficerStatus(OfficerTicket, prefix="of:status"):
    """Choose a new status."""


class OfficerSetStatus(OfficerTicket, prefix="of:set"):
    """Set the status."""

    status: TicketStatus


class NoticeSend(Payload, prefix="notice:send"):
    """Send the officer's notice."""


class NoticeCancel(Payload, prefix="notice:cancel"):
    """Drop the officer's notice."""


# --- polls and dialogues ----------------------------------------------------------------------------


class PollAction(Payload):
    """A button about one poll, by its id."""

    poll: int


class PollShow(PollAction, prefix="poll:show"):
    """Show the poll."""


class PollReply(PollAction, prefix="poll:reply"):
    """Type an answer to a free-text poll."""


class PollResend(PollAction, prefix="poll:resend"):
    """Send again the answer the address limit held back."""


class PollPick(PollAction, prefix="poll:pick"):
    """A choice, by its number."""

    choice: int


class PollSkip(Payload, prefix="poll:skip"):
    """Leave a free-text answer unwritten."""


class DialogueAction(Payload):
    """A button about one policy dialogue, by its id."""

    dialogue: int


class DialogueShow(DialogueAction, prefix="dlg:show"):
    """Show the dialogue."""


class DialogueAsk(DialogueAction, prefix="dlg:ask"):
    """Send a question for it."""


class DialogueQuestions(DialogueAction, prefix="dlg:questions"):
    """The questions of the citizen's area."""


class DialogueResend(DialogueAction, prefix="dlg:resend"):
    """Send again the question the address limit held back."""


class DialogueVote(DialogueAction, prefix="dlg:vote"):
    """Support one question (by its ticket id)."""

    ticket: int


class DialogueCancel(Payload, prefix="dlg:cancel"):
    """Drop the question being written."""


# --- the household self-check -----------------------------------------------------------------------


class SelfCheckStart(Payload, prefix="sc:start"):
    """Start (again)."""


class SelfCheckZone(Payload, prefix="sc:zone"):
    """Countryside or town."""

    zone: Zone


class SelfCheckArea(Payload, prefix="sc:area"):
    """A commune chosen from "did you mean"."""

    code: str


class SelfCheckBasis(Payload, prefix="sc:basis"):
    """What the income figure covers."""

    basis: Literal["month", "year", "person"]


class SelfCheckAnswer(Payload, prefix="sc:ans"):
    """The answer to one indicator question."""

    question: str
    answer: Literal["yes", "no", "skip"]


class SelfCheckRequest(Payload, prefix="sc:request"):
    """Ask the commune to review the household."""


class SelfCheckSend(Payload, prefix="sc:send"):
    """Send the review request."""


class SelfCheckDone(Payload, prefix="sc:done"):
    """No request."""


class SelfCheckCancel(Payload, prefix="sc:cancel"):
    """Leave the self-check."""
