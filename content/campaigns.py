"""Recurring campaigns (`content/campaigns.yaml`): notices the bot sends by itself on a schedule.

A campaign's schedule is either APScheduler `cron` fields or a cadence (`every` a weekday, every
`day`, or on some days of the month, `at` a time); either may be limited to a yearly window
(`from`/`to`, "MM-DD", inclusive; a window may run over the new year). Times are local to the
configured time zone. The same trigger both schedules the job and lists the occurrences, so what
runs and what the tests and catch-up expect cannot drift apart.

Texts may use `{date}` (the occurrence's day, "Thứ Hai, 19/10/2026") and `{year}`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from babel.dates import format_date
from pydantic import BaseModel, ConfigDict, Field, field_validator

from content.i18n import SUPPORTED
from content.loader import CONTENT_DIR, ContentError, ContentInvalid, each_valid, listed, read_document
from storage.models import HouseholdStatus

CAMPAIGNS_FILE = CONTENT_DIR / "campaigns.yaml"
MAX_TEXT = 1000
PLACEHOLDERS = ("date", "year")
WEEKDAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
CRON_FIELDS = ("month", "day", "day_of_week", "hour", "minute")
# Every schedule must fall in its window at least once in this span (a 29 February needs 8 years).
_PROBE_FROM = datetime(2024, 1, 1, tzinfo=UTC)
_PROBE_YEARS = 9
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Window:
    """A yearly span of days, both ends included; `start` after `end` runs over the new year."""

    start: tuple[int, int]
    end: tuple[int, int]

    def contains(self, day: date) -> bool:
        """Whether the day lies in the window."""
        key = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end

    def next_start(self, day: date) -> date:
        """The first day of the window after `day`."""
        first = date(day.year, *self.start)
        return first if first > day else date(day.year + 1, *self.start)


@dataclass(frozen=True)
class Campaign:
    """One recurring notice: what it says, to whom, and when (cron fields in local time)."""

    id: str
    title: dict[str, str]
    texts: dict[str, str]
    target: dict[str, list[str]]
    urgent: bool
    cron: dict[str, str]
    window: Window | None = None


class WindowTrigger(BaseTrigger):
    """A cron trigger that only fires inside a yearly window of days."""

    __slots__ = ("cron", "window", "timezone")
    MAX_JUMPS = 2 * _PROBE_YEARS + 2

    def __init__(self, cron: CronTrigger, window: Window, timezone: ZoneInfo) -> None:
        self.cron = cron
        self.window = window
        self.timezone = timezone

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The cron's next time, moved on to the window's next opening while it falls outside."""
        candidate = self.cron.get_next_fire_time(previous_fire_time, now)
        for _ in range(self.MAX_JUMPS):
            if candidate is None:
                return None
            local = candidate.astimezone(self.timezone)
            if self.window.contains(local.date()):
                return candidate
            opening = datetime.combine(self.window.next_start(local.date()), datetime.min.time(), self.timezone)
            candidate = self.cron.get_next_fire_time(None, opening)
        return None

    def __repr__(self) -> str:
        start, end = self.window.start, self.window.end
        return f"<WindowTrigger {self.cron} from {start[1]:02}/{start[0]:02} to {end[1]:02}/{end[0]:02}>"


def trigger(campaign: Campaign, tz: ZoneInfo) -> BaseTrigger:
    """The APScheduler trigger of a campaign in the given time zone."""
    cron = CronTrigger(**campaign.cron, second=0, timezone=tz)
    return cron if campaign.window is None else WindowTrigger(cron, campaign.window, tz)


def occurrences(campaign: Campaign, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every occurrence from `start` (included) to `end` (excluded), as aware UTC datetimes."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("occurrences needs aware datetimes")
    when = trigger(campaign, tz)
    found: list[datetime] = []
    moment = when.get_next_fire_time(None, start)
    while moment is not None and moment < end:
        found.append(moment.astimezone(UTC))
        moment = when.get_next_fire_time(None, moment + timedelta(microseconds=1))
    return found


def last_occurrence_before(campaign: Campaign, moment: datetime, tz: ZoneInfo) -> datetime | None:
    """The latest occurrence at or before `moment` (aware UTC), or None within the last 9 years."""
    span = timedelta(days=1)
    limit = timedelta(days=366 * _PROBE_YEARS)
    end = moment + timedelta(microseconds=1)
    while True:
        # Looking back over a growing span keeps frequent schedules cheap and rare ones findable.
        found = occurrences(campaign, moment - min(span, limit), end, tz)
        if found:
            return found[-1]
        if span >= limit:
            return None
        span *= 4


def occurrence_key(campaign: Campaign, occurrence: datetime) -> str:
    """The key that makes one occurrence one broadcast, whoever creates it."""
    return f"campaign:{campaign.id}:{occurrence.astimezone(UTC).isoformat()}"


def format_weekday_date(value: datetime | date, locale: str, tz: ZoneInfo) -> str:
    """A day with its weekday, capitalised: "Thứ Hai, 19/10/2026", "Monday, 19/10/2026"."""
    day = value.astimezone(tz).date() if isinstance(value, datetime) else value
    text = format_date(day, "EEEE, dd/MM/yyyy", locale=locale)
    return text[:1].upper() + text[1:]


def render_texts(campaign: Campaign, occurrence: datetime, tz: ZoneInfo) -> dict[str, str]:
    """The campaign's texts for one occurrence, placeholders filled in each language."""
    local = occurrence.astimezone(tz)
    return {
        locale: text.format(date=format_weekday_date(local, locale, tz), year=local.year)
        for locale, text in campaign.texts.items()
    }


# ------------------------------------------------------------------------------------- loading


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)


class _Title(_Strict):
    vi: str = Field(min_length=3, max_length=120)
    en: str = Field(min_length=3, max_length=120)


class _Texts(_Strict):
    vi: str = Field(min_length=10, max_length=MAX_TEXT)
    en: str | None = Field(default=None, min_length=10, max_length=MAX_TEXT)


class _Target(_Strict):
    areas: list[str] = []
    statuses: list[HouseholdStatus] = []
    locales: list[Literal["vi", "en"]] = []


class _Cron(_Strict):
    month: str | None = None
    day: str | None = None
    day_of_week: str | None = None
    hour: str | None = None
    minute: str | None = None


class _Campaign(_Strict):
    id: str = Field(max_length=60)
    title: _Title
    texts: _Texts
    target: _Target = _Target()
    urgent: bool = False
    cron: _Cron | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    every: str | list[int] | None = None
    at: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be lower-case kebab-case, e.g. peak-month")
        return value


def load_campaigns(path: Path = CAMPAIGNS_FILE, *, area_codes: Iterable[str] | None = None) -> tuple[Campaign, ...]:
    """Read and validate the campaigns file; raise ContentInvalid naming file, entry and field."""
    name = path.name
    return parse_campaigns(read_document(path, name), name, area_codes=area_codes)


def parse_campaigns(
    document: Any, name: str = "campaigns.yaml", *, area_codes: Iterable[str] | None = None
) -> tuple[Campaign, ...]:
    """Validate an already-read campaigns document (`{"campaigns": [...]}`)."""
    items = listed(document, "campaigns", name)
    known_areas = set(area_codes) if area_codes is not None else None
    errors: list[ContentError] = []
    campaigns: list[Campaign] = []
    seen: set[str] = set()
    for label, row in each_valid(items, _Campaign, name, errors):
        problems = _check(row, known_areas)
        if row.id in seen:
            problems.append(("id", "used by another campaign"))
        seen.add(row.id)
        errors.extend(ContentError(name, label, field, message) for field, message in problems)
        if not problems:
            campaigns.append(_campaign(row))
    if errors:
        raise ContentInvalid(errors)
    return tuple(campaigns)


def _check(row: _Campaign, known_areas: set[str] | None) -> list[tuple[str, str]]:
    """Problems across fields, each as (field, message)."""
    problems: list[tuple[str, str]] = []
    for locale in SUPPORTED:
        text = getattr(row.texts, locale)
        if text is not None:
            problems.extend((f"texts.{locale}", message) for message in _placeholder_problems(text))
    if known_areas is not None:
        problems.extend(
            ("target.areas", f"unknown area code {code!r}") for code in row.target.areas if code not in known_areas
        )
    if (row.cron is None) == (row.every is None):
        problems.append(
            ("cron", "give either cron or every/at, not both" if row.cron else "missing: give cron or every/at")
        )
        return problems
    if row.cron is not None:
        problems.extend(_cron_problems(row.cron))
        if row.at is not None:
            problems.append(("at", "use at with every, not with cron (put hour and minute in cron)"))
    else:
        problems.extend(_cadence_problems(row.every, row.at))
    if (row.from_ is None) != (row.to is None):
        problems.append(("to" if row.to is None else "from", "missing: from and to go together"))
    for field, value in (("from", row.from_), ("to", row.to)):
        if value is not None and (message := _month_day_problem(value)):
            problems.append((field, message))
    if not problems:
        campaign = _campaign(row)
        if trigger(campaign, ZoneInfo("UTC")).get_next_fire_time(None, _PROBE_FROM) is None:
            problems.append(("every" if row.every is not None else "cron", "never falls between from and to"))
    return problems


def _placeholder_problems(text: str) -> list[str]:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as exc:
        return [f"{exc} (write a literal brace as {{{{ or }}}})"]
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    return [f"unknown placeholder {{{field}}}; use {allowed}" for field in fields if field not in PLACEHOLDERS]


def _cron_problems(cron: _Cron) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for field in CRON_FIELDS:
        value = getattr(cron, field)
        if value is None:
            if field in ("hour", "minute"):
                problems.append((f"cron.{field}", "missing: a campaign names its hour and minute"))
            continue
        if field in ("hour", "minute") and ("*" in value or "/" in value):
            problems.append(
                (f"cron.{field}", "must list exact values (no * or /): a campaign must not repeat within a day")
            )
            continue
        try:
            CronTrigger(**{field: value})
        except ValueError as exc:
            problems.append((f"cron.{field}", str(exc)))
    return problems


def _cadence_problems(every: str | list[int] | None, at: str | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    days = every if isinstance(every, list) else None
    if days is None and str(every) not in WEEKDAYS and every != "day":
        problems.append(
            ("every", "must be a weekday (monday … sunday), day, or a list of days of the month like [1, 15]")
        )
    elif days is not None and (not days or any(not 1 <= day <= 31 for day in days)):
        problems.append(("every", "days of the month must be between 1 and 31"))
    if at is None:
        problems.append(("at", 'missing: the time of day, e.g. "08:00"'))
    elif not _TIME.match(at):
        problems.append(("at", f'must be a time of day as HH:MM, e.g. "08:00" (got {at!r})'))
    return problems


def _month_day_problem(value: str) -> str | None:
    match = _MONTH_DAY.match(value)
    if match is None:
        return f'must be a day of the year as MM-DD, e.g. "10-17" (got {value!r})'
    for year, message in ((2000, f"{value} is not a day of the year"), (2001, f"{value} is not a day of every year")):
        try:
            date(year, int(match[1]), int(match[2]))
        except ValueError:
            return message
    return None


def _cron_fields(row: _Campaign) -> dict[str, str]:
    if row.cron is not None:
        return {field: value for field in CRON_FIELDS if (value := getattr(row.cron, field)) is not None}
    hour, minute = (row.at or "00:00").split(":")
    fields = {"hour": str(int(hour)), "minute": str(int(minute))}
    if isinstance(row.every, list):
        fields["day"] = ",".join(str(day) for day in sorted(set(row.every)))
    elif row.every in WEEKDAYS:
        fields["day_of_week"] = WEEKDAYS[str(row.every)]
    return fields


def _month_day(value: str) -> tuple[int, int]:
    month, day = value.split("-")
    return int(month), int(day)


def _campaign(row: _Campaign) -> Campaign:
    window = Window(_month_day(row.from_), _month_day(row.to)) if row.from_ and row.to else None
    texts = {"vi": row.texts.vi, **({"en": row.texts.en} if row.texts.en else {})}
    return Campaign(
        id=row.id,
        title={"vi": row.title.vi, "en": row.title.en},
        texts=texts,
        target={
            "areas": list(row.target.areas),
            "statuses": [str(s) for s in row.target.statuses],
            "locales": list(row.target.locales),
        },
        urgent=row.urgent,
        cron=_cron_fields(row),
        window=window,
    )
