"""The figures of the last twelve months and the dates ahead, each read at most once a minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from bot import keys
from bot.public.site import ALLOWED_LINK, CACHE, translator_of
from bot.report import Period
from content.campaigns import Window
from content.i18n import N_, Translator
from content.importer import stored_campaigns
from content.text import strip_diacritics
from storage import dialogues as dialogue_repo
from storage import public as public_repo
from storage import stats

STATS_DAYS = 365


@dataclass(frozen=True)
class CommuneFigures:
    """One commune's row of the public table."""

    code: str
    name: str
    answers: int
    received: int
    answered: int
    on_time: int

    @property
    def on_time_share(self) -> float | None:
        """Answered on time among answered (None when nothing was answered)."""
        return self.on_time / self.answered if self.answered else None


@dataclass(frozen=True)
class Figures:
    """What the public sees of the last twelve months: answers, feedback, timeliness, by topic and commune."""

    period: Period
    answers: int
    topics: list[stats.TopicUsage]
    tickets: stats.TicketCounts
    median_hours: float | None
    communes: list[CommuneFigures]


async def load_figures(request: web.Request) -> Figures:
    """Aggregate the last twelve months with storage.stats (no text, no identity leaves the database)."""
    services = request.app[keys.SERVICES]
    now = request.app[keys.CLOCK]()
    today = now.astimezone(services.tz).date()
    period = Period(today - timedelta(days=STATS_DAYS - 1), today)
    scope = period.scope(services.tz, None)
    async with request.app[keys.STAFF_SESSIONS]() as session:
        summary = await stats.ticket_summary(session, scope, services.tz, now, weekly=False)
        usage = await stats.faq_usage(session, scope)
        by_area = await public_repo.answers_by_area(session, scope)
    communes = []
    for code in set(summary.by_area) | set(by_area):
        counts = summary.by_area.get(code, stats.TicketCounts())
        area = services.areas.get(code) if code else None
        communes.append(
            CommuneFigures(
                code, area.label if area else "", by_area.get(code, 0), counts.received, counts.answered, counts.on_time
            )
        )
    communes.sort(key=lambda row: (not row.name, strip_diacritics(row.name.split(" ", 1)[-1]).lower(), row.code))
    return Figures(
        period, sum(item.shown for item in usage), stats.by_topic(usage), summary.total, summary.median_hours, communes
    )


async def figures(request: web.Request) -> Figures:
    """The figures, at most a minute old."""
    return await request.app[CACHE].get("figures", lambda: load_figures(request))


def percent(translator: Translator, share: float | None) -> str:
    return "–" if share is None else f"{translator.format_number(round(share * 100))} %"


# ---- dates ahead -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateAhead:
    """One dialogue, campaign or contest on the calendar."""

    kind: str
    title: str
    starts: date
    ends: date | None = None
    when: str = ""
    details: tuple[tuple[str, str], ...] = ()
    url: str = ""


def window_dates(window: Window, today: date) -> tuple[date, date]:
    """The days of the campaign window running today, else of the next one."""
    if window.contains(today):
        year = today.year if (today.month, today.day) >= window.start else today.year - 1
        start = _day(year, window.start)
    else:
        start = window.next_start(today)
    end = _day(start.year, window.end)
    return start, end if end >= start else _day(start.year + 1, window.end)


def _day(year: int, month_day: tuple[int, int]) -> date:
    """A day of a year; 29 February becomes 28 February in other years."""
    month, day = month_day
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, day - 1)


async def load_dates(request: web.Request) -> list[DateAhead]:
    """Announced dialogues, campaign windows and quiz contests, soonest first (facts only, never who asked)."""
    services = request.app[keys.SERVICES]
    translator = translator_of(request)
    now = request.app[keys.CLOCK]()
    today = now.astimezone(services.tz).date()
    async with request.app[keys.STAFF_SESSIONS]() as session:
        dialogues = await dialogue_repo.upcoming_public(session, now)
        campaigns = await stored_campaigns(session, [area.code for area in services.areas.records])
        contests = await public_repo.current_contests(session, today)
    found = [_dialogue(translator, services, item) for item in dialogues]
    for campaign in campaigns:
        if campaign.window is not None:
            start, end = window_dates(campaign.window, today)
            title = campaign.title.get(translator.locale) or campaign.title.get("vi") or campaign.id
            found.append(DateAhead("campaign", title, start, end))
    for contest in contests:
        title = contest.titles.get(translator.locale) or contest.titles.get("vi") or ""
        found.append(DateAhead("contest", title, contest.starts_on, contest.ends_on))
    return sorted(found, key=lambda item: (item.starts, item.kind, item.title))


def _dialogue(translator: Translator, services: Any, item: dialogue_repo.PublicDialogue) -> DateAhead:
    _ = translator.gettext
    area = services.areas.get(item.area_code) if item.area_code else None
    details = [
        (N_("Where"), item.place),
        (N_("Officials"), item.officials),
        (N_("For"), area.label if area and area.level == "commune" else _("the whole province")),
        (N_("Send questions before"), translator.format_datetime(item.questions_close_at)),
        (N_("Questions sent so far"), translator.format_number(item.questions)),
    ]
    title = item.topics.get(translator.locale) or item.topics.get("vi") or ""
    return DateAhead(
        "dialogue",
        title,
        item.held_at.astimezone(services.tz).date(),
        when=translator.format_datetime(item.held_at),
        details=tuple((k, v) for k, v in details if v),
        url=item.online_url if item.online_url.startswith(ALLOWED_LINK) else "",
    )


async def dates_ahead(request: web.Request) -> list[DateAhead]:
    """The calendar in the request's language, at most a minute old."""
    return await request.app[CACHE].get(f"dates:{translator_of(request).locale}", lambda: load_dates(request))
