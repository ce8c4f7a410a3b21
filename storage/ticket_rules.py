"""Rules of a ticket's life, with no I/O: allowed status changes, tracking codes, due dates."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.models import TicketKind, TicketStatus

_S = TicketStatus

# FixMyStreet-style life-cycle. An answered ticket goes back to in_progress when the citizen says
# it is not resolved or writes again; rejected and closed are final.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    _S.new: frozenset({_S.assigned, _S.in_progress, _S.answered, _S.rejected}),
    _S.assigned: frozenset({_S.in_progress, _S.answered, _S.rejected}),
    _S.in_progress: frozenset({_S.answered, _S.rejected}),
    _S.answered: frozenset({_S.closed, _S.in_progress}),
    _S.rejected: frozenset(),
    _S.closed: frozenset(),
}
FINAL: frozenset[TicketStatus] = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
OPEN: frozenset[TicketStatus] = frozenset({_S.new, _S.assigned, _S.in_progress})


class InvalidTransition(ValueError):
    """A status change the life-cycle does not allow."""


def can_transition(old: TicketStatus | str, new: TicketStatus | str) -> bool:
    """Whether a ticket may go from `old` to `new`."""
    try:
        return TicketStatus(new) in TRANSITIONS[TicketStatus(old)]
    except ValueError:
        return False


def check_transition(old: TicketStatus | str, new: TicketStatus | str) -> None:
    """Raise InvalidTransition unless a ticket may go from `old` to `new`."""
    if can_transition(old, new):
        return
    targets = TRANSITIONS.get(old)  # type: ignore[arg-type]  # a plain str finds its StrEnum key (same hash and equality)
    if targets is None:
        raise InvalidTransition(f"unknown ticket status {old!r}")
    if not targets:
        raise InvalidTransition(f"a {old} ticket is final and cannot become {new}")
    raise InvalidTransition(f"a {old} ticket cannot become {new} (allowed: {', '.join(sorted(targets))})")


# Tracking codes. No 0/O, 1/I/L (look alike on paper and screens) and no U/V (hard to tell apart
# when a code is read aloud in Vietnamese, "u"/"vê"). 29 symbols, 6 of them: about 6e8 codes.
CODE_PREFIX = "PA-"
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTWXYZ23456789"
CODE_LENGTH = 6
CODE_PATTERN = re.compile(rf"^PA-[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
_SEPARATORS = re.compile(r"[\s\-_.·/]+")


def new_code() -> str:
    """A fresh random tracking code such as PA-7K3M9Q (uniqueness is the repository's job)."""
    return CODE_PREFIX + random_symbols(CODE_LENGTH)


def random_symbols(length: int) -> str:
    """`length` symbols of the look-alike-free alphabet, drawn with `secrets`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def fold_symbols(text: str) -> str:
    """Upper-case `text` without separators or Vietnamese diacritics (phones using Telex/VNI add them)."""
    text = unicodedata.normalize("NFD", text.strip().upper().replace("Đ", "D"))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return _SEPARATORS.sub("", text)


def normalize_code(text: str, *, require_prefix: bool = True) -> str | None:
    """The canonical code for what someone typed ("pa 7k3m9q" → "PA-7K3M9Q"), or None.

    Characters outside the alphabet (0, O, 1, I, L, U, V) are not guessed at: each could stand for
    more than one symbol, and a wrong guess would show someone else's ticket, so they give None.
    Without `require_prefix` a bare "7K3M9Q" is accepted too (for a prompt that asks for the code).
    """
    folded = fold_symbols(text)
    if len(folded) == CODE_LENGTH + 2 and folded.startswith("PA"):
        body = folded[2:]
    elif len(folded) == CODE_LENGTH and not require_prefix:
        body = folded
    else:
        return None
    if any(char not in CODE_ALPHABET for char in body):
        return None
    return CODE_PREFIX + body


# Due dates count working days (Mon–Fri, not a public holiday) in local time; offices close at 17:00.
END_OF_DAY = time(17, 0)
DEFAULT_DUE_DAYS: dict[TicketKind, int] = {
    TicketKind.question: 3,
    TicketKind.feedback: 10,
    TicketKind.suggestion: 10,
    TicketKind.complaint: 10,
    TicketKind.problem: 5,
}
MAX_DUE_DAYS = 365


def is_working_day(day: date, holidays: frozenset[date]) -> bool:
    """Monday to Friday and not a holiday."""
    return day.weekday() < 5 and day not in holidays


def first_counted_day(start: datetime, *, tz: ZoneInfo, holidays: frozenset[date]) -> date:
    """The first working day that counts: the day itself before 17:00, else the next working day."""
    local = start.astimezone(tz)
    day = local.date()
    if is_working_day(day, holidays) and local.time() < END_OF_DAY:
        return day
    day += timedelta(days=1)
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def add_working_days(start: datetime, days: int, *, tz: ZoneInfo, holidays: frozenset[date]) -> datetime:
    """The due moment (17:00 local, as aware UTC) of the `days`-th working day counted from `start`.

    A ticket sent on a weekend, a holiday or at/after 17:00 starts counting on the next working day.
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    if days < 1:
        raise ValueError("days must be at least 1")
    day = first_counted_day(start, tz=tz, holidays=holidays)
    counted = 1
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            counted += 1
    return datetime.combine(day, END_OF_DAY, tzinfo=tz).astimezone(UTC)


def is_overdue(due_at: datetime, status: TicketStatus | str, now: datetime) -> bool:
    """Past its due moment and still waiting for staff (never once answered, closed or rejected)."""
    return status in OPEN and now > due_at


def parse_due_days(text: str) -> dict[TicketKind, int]:
    """Days per kind from "question=3,complaint=10"; kinds not named keep DEFAULT_DUE_DAYS."""
    result = dict(DEFAULT_DUE_DAYS)
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sign, value = (piece.strip() for piece in part.partition("="))
        if not sign:
            raise ValueError(f"{part!r} is not kind=days")
        try:
            kind = TicketKind(name.lower())
        except ValueError:
            raise ValueError(f"unknown kind {name!r} (use {', '.join(TicketKind)})") from None
        if not value.isdigit() or not 1 <= int(value) <= MAX_DUE_DAYS:
            raise ValueError(f"days for {kind} must be a whole number from 1 to {MAX_DUE_DAYS}")
        result[kind] = int(value)
    return result


def parse_holidays(text: str) -> frozenset[date]:
    """Dates from "2026-01-01,2026-04-30,…" (spaces and empty items are ignored)."""
    days = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        try:
            days.add(date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a date written YYYY-MM-DD") from None
    return frozenset(days)


def due_days_for(kind: TicketKind | str, due_days: Mapping[TicketKind, int]) -> int:
    """Working days allowed for a kind of ticket."""
    return due_days.get(TicketKind(kind), DEFAULT_DUE_DAYS[TicketKind(kind)])
