"""The 6-monthly and annual report on communication results (Kế hoạch 168/KH-UBND) as an Excel workbook.

A summary sheet (citizens reached, notices sent and delivered, questions answered, feedback received /
answered / on time by kind and by commune, the most asked unanswered questions) and detail sheets
(tickets, notices, FAQ usage, communes). Ticket rows follow the export rules of `bot.export`: never who
sent an anonymous ticket, never a citizen id; every text cell is stored as text, so nothing a citizen
wrote can run as a formula.

Making one takes steps (`STEPS`): the reads, each in a session of its own, then the layout, plain CPU
work in openpyxl that runs in a worker thread so the event loop keeps answering citizens meanwhile.
The dashboard makes reports as background jobs (bot.report_jobs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.export import COLUMNS as TICKET_COLUMNS
from bot.export import ticket_rows
from content.areas import AreaDirectory
from content.i18n import N_, Translator
from storage import nominations as nomination_repo
from storage import stats
from storage.models import TicketKind

KIND_LABELS: dict[str, str] = {
    TicketKind.question: N_("Question"),
    TicketKind.feedback: N_("Feedback"),
    TicketKind.suggestion: N_("Suggestion"),
    TicketKind.complaint: N_("Complaint"),
    TicketKind.problem: N_("Problem"),
}
PRESETS = ("this-half", "last-half", "this-year", "last-year")
PRESET_LABELS = {
    "this-half": N_("This half-year"),
    "last-half": N_("Last half-year"),
    "this-year": N_("This year"),
    "last-year": N_("Last year"),
}
MAX_DAYS = 3 * 366
TOP_UNANSWERED = 10
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


class PeriodError(ValueError):
    """Dates that do not make a period; the message is an English msgid, shown translated."""


@dataclass(frozen=True)
class Period:
    """Calendar days from `first` to `last`, both included, in the local zone."""

    first: date
    last: date

    @classmethod
    def parse(cls, first: str, last: str) -> Period:
        """A period from two YYYY-MM-DD strings, checked."""
        try:
            period = cls(date.fromisoformat(first.strip()), date.fromisoformat(last.strip()))
        except ValueError:
            raise PeriodError(N_("Enter the dates as YYYY-MM-DD, for example 2026-01-31.")) from None
        return period.checked()

    def checked(self) -> Period:
        """This period, or PeriodError when it runs backwards or is longer than three years."""
        if self.last < self.first:
            raise PeriodError(N_("The end date is before the start date."))
        if (self.last - self.first).days >= MAX_DAYS:
            raise PeriodError(N_("Choose a period of at most three years."))
        return self

    def scope(self, tz: ZoneInfo, areas: frozenset[str] | None) -> stats.Scope:
        """The UTC bounds [local midnight of `first`, local midnight after `last`) with the area scope."""
        start = datetime.combine(self.first, time(0), tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=tz)
        return stats.Scope(start, end, areas)


def preset(name: str, today: date) -> Period:
    """this-half / last-half (January–June, July–December), this-year / last-year, as calendar periods."""
    half_start = date(today.year, 1 if today.month <= 6 else 7, 1)
    if name == "this-half":
        return Period(half_start, _half_end(half_start))
    if name == "last-half":
        previous = date(half_start.year - 1, 7, 1) if half_start.month == 1 else date(half_start.year, 1, 1)
        return Period(previous, _half_end(previous))
    if name == "this-year":
        return Period(date(today.year, 1, 1), date(today.year, 12, 31))
    if name == "last-year":
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    raise PeriodError(N_("Choose one of the periods offered."))


def _half_end(start: date) -> date:
    return date(start.year, 6, 30) if start.month == 1 else date(start.year, 12, 31)


@dataclass(frozen=True)
class ReportInput:
    """What a report is about: the period, the area (None: the whole province) and who asked."""

    period: Period
    area: str | None
    tz: ZoneInfo
    now: datetime
    areas: AreaDirectory
    translator: Translator


def _text(value: Any) -> Any:
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _append(sheet: Worksheet, values: Sequence[Any], *, bold: bool = False) -> None:
    """Add a row; strings stay strings (openpyxl would store "=…" as a formula), dates get a format."""
    # Styled before they join the sheet: reading the row back (sheet.max_row) scans the whole sheet, once a row.
    cells = [Cell(sheet, value=_text(value)) for value in values]  # type: ignore[call-arg]  # row, column: set on append
    for cell in cells:
        if isinstance(cell.value, str):
            cell.data_type = "s"
        elif isinstance(cell.value, datetime):
            cell.number_format = DATETIME_FORMAT
        elif isinstance(cell.value, date):
            cell.number_format = DATE_FORMAT
        if bold:
            cell.font = Font(bold=True)
    sheet.append(cells)


def _header(sheet: Worksheet, values: Sequence[str], widths: Sequence[int]) -> None:
    _append(sheet, values, bold=True)
    sheet.freeze_panes = f"A{sheet.max_row + 1}"
    for n, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(n)].width = width


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    return moment.astimezone(tz).replace(tzinfo=None) if moment is not None else None


Progress = Callable[[str], Awaitable[None]]
OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]
# The steps of making a report, in order, with what the job page shows while each runs.
STEPS = {
    "figures": N_("Feedback figures"),
    "tickets": N_("Ticket rows"),
    "notices": N_("Notices"),
    "faq": N_("FAQ usage"),
    "communes": N_("Communes"),
    "writing": N_("Writing the file"),
}


@dataclass(frozen=True)
class Figures:
    """Everything the workbook shows, read from the database."""

    summary: stats.TicketSummary
    notices: stats.NoticeTotals
    reach: list[stats.BroadcastReach]
    usage: list[stats.FaqUsage]
    unanswered: list[Any]
    subscribers: dict[str, int]
    newcomers: dict[str, int]
    delivered: dict[str, int]
    tickets: list[list[Any]]
    nominated: dict[str | None, tuple[int, int]]


async def _no_progress(_step: str) -> None:
    return None


async def read_figures(open_session: OpenSession, report: ReportInput, progress: Progress = _no_progress) -> Figures:
    """Read the figures of the period and area, one step of STEPS at a time (`progress` is told each
    step as it begins), each step in a session of its own: between steps the connection is free."""
    area_set = frozenset({report.area}) if report.area else None
    scope = report.period.scope(report.tz, area_set)
    await progress("figures")
    async with open_session() as session:
        summary = await stats.ticket_summary(session, scope, report.tz, report.now)
    await progress("tickets")
    async with open_session() as session:
        tickets = await _tickets(session, report)
    await progress("notices")
    async with open_session() as session:
        notices = await stats.notice_totals(session, scope)
        reach = await stats.broadcast_reach(session, scope)
        delivered = await stats.delivered_by_area(session, scope)
    await progress("faq")
    async with open_session() as session:
        usage = await stats.faq_usage(session, scope)
        unanswered = await stats.top_unanswered(session, scope, TOP_UNANSWERED)
    await progress("communes")
    async with open_session() as session:
        subscribers = await stats.subscribers_by_area(session, area_set)
        newcomers = await stats.new_citizens_by_area(session, scope)
        nominated = await nomination_repo.counts_by_area(session, scope.start, scope.end)
    if report.area:
        nominated = {code: counts for code, counts in nominated.items() if code == report.area}
    return Figures(summary, notices, reach, usage, unanswered, subscribers, newcomers, delivered, tickets, nominated)


def lay_out(report: ReportInput, figures: Figures) -> Workbook:
    """The workbook of the figures (plain CPU work in openpyxl: run it off the event loop)."""
    _ = report.translator.gettext
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _("Summary")[:31]
    _summary(
        sheet,
        report,
        figures.summary,
        figures.notices,
        len(figures.reach),
        figures.usage,
        figures.unanswered,
        figures.subscribers,
        figures.newcomers,
    )
    _real_stories(sheet, report, figures.nominated)
    _ticket_sheet(workbook.create_sheet(_("Tickets")[:31]), figures.tickets)
    _notice_sheet(workbook.create_sheet(_("Notices")[:31]), figures.reach, report)
    _faq_sheet(workbook.create_sheet(_("FAQ usage")[:31]), figures.usage, report)
    _commune_sheet(
        workbook.create_sheet(_("By commune")[:31]),
        report,
        figures.summary,
        figures.subscribers,
        figures.newcomers,
        figures.delivered,
    )
    return workbook


def write_workbook(report: ReportInput, figures: Figures, out: BinaryIO) -> None:
    """Lay the figures out and save the .xlsx to `out`: synchronous, for a worker thread."""
    lay_out(report, figures).save(out)


@asynccontextmanager
async def _same(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    yield session


async def _tickets(session: AsyncSession, report: ReportInput) -> list[list[Any]]:
    """The export's ticket rows created in the period (the export filters by start day and area)."""
    rows = await ticket_rows(session, tz=report.tz, now=report.now, since=report.period.first, area=report.area)
    end = datetime.combine(report.period.last + timedelta(days=1), time(0))
    created = TICKET_COLUMNS.index("created")
    return [row for row in rows if isinstance(at := row[created], datetime) and at < end]


def _summary(
    sheet: Worksheet,
    report: ReportInput,
    summary: stats.TicketSummary,
    notices: stats.NoticeTotals,
    notices_sent: int,
    usage: list[stats.FaqUsage],
    unanswered: list[Any],
    subscribers: dict[str, int],
    newcomers: dict[str, int],
) -> None:
    _ = report.translator.gettext
    area = report.areas.get(report.area) if report.area else None
    _append(sheet, [_("Report on communication results")], bold=True)
    _append(sheet, [_("Period"), report.period.first, report.period.last])
    _append(sheet, [_("Area"), area.label if area else _("Whole province")])
    _append(sheet, [_("Made on"), _local(report.now, report.tz)])
    _append(sheet, [])
    _append(sheet, [_("Citizens"), _("Number")], bold=True)
    _append(sheet, [_("New citizens who wrote to the bot"), sum(newcomers.values())])
    _append(sheet, [_("Subscribers receiving notices today"), sum(subscribers.values())])
    _append(sheet, [_("Citizens reached by notices"), notices.citizens_reached])
    _append(sheet, [])
    _append(sheet, [_("Notices"), _("Number")], bold=True)
    _append(sheet, [_("Notices sent"), notices_sent])
    _append(sheet, [_("Notice messages queued"), notices.queued])
    _append(sheet, [_("Delivered"), notices.sent])
    _append(sheet, [_("Failed"), notices.failed])
    _append(sheet, [_("Skipped"), notices.skipped])
    _append(sheet, [_("Still waiting"), notices.pending])
    _append(sheet, [])
    _append(sheet, [_("Questions answered by the bot"), sum(u.shown for u in usage)])
    _append(sheet, [_("Rated helpful"), sum(u.helpful for u in usage)])
    _append(sheet, [_("Rated not helpful"), sum(u.unhelpful for u in usage)])
    _append(sheet, [])
    columns = [
        _("Tickets received"),
        _("Answered"),
        _("Answered on time"),
        _("Share on time"),
        _("Open and overdue"),
        _("Average rating"),
    ]
    _append(sheet, [_("Feedback by kind"), *columns], bold=True)
    for kind, counts in summary.by_kind.items():
        _append(sheet, [kind_label(report.translator, kind), *_counts(counts)])
    _append(sheet, [_("Total"), *_counts(summary.total)], bold=True)
    _append(sheet, [])
    _append(sheet, [_("Feedback by commune"), *columns], bold=True)
    for code, counts in summary.by_area.items():
        _append(sheet, [_area_name(report, code), *_counts(counts)])
    _append(sheet, [])
    _append(sheet, [_("Most asked questions without an answer"), _("Times asked"), _("Last asked")], bold=True)
    for question in unanswered:
        _append(sheet, [question.text, question.count, _local(question.last_asked_at, report.tz)])
    sheet.column_dimensions["A"].width = 52
    for letter in "BCDEFG":
        sheet.column_dimensions[letter].width = 16


def _real_stories(sheet: Worksheet, report: ReportInput, nominated: dict[str | None, tuple[int, int]]) -> None:
    """Model households and good initiatives (gương điển hình) people nominated, and the real stories
    published from them, per commune: the figure the plan asks each period."""
    _ = report.translator.gettext
    _append(sheet, [])
    _append(
        sheet,
        [
            _("Model households and initiatives (real stories) by commune"),
            _("Nominations received"),
            _("Stories published"),
        ],
        bold=True,
    )
    for code in sorted(nominated, key=lambda c: (not c, _area_name(report, c or ""))):
        received, published = nominated[code]
        _append(sheet, [_area_name(report, code or ""), received, published])
    _append(
        sheet,
        [_("Total"), sum(pair[0] for pair in nominated.values()), sum(pair[1] for pair in nominated.values())],
        bold=True,
    )


def kind_label(translator: Translator, kind: str) -> str:
    """The translated name of a ticket kind (the raw value for an unknown one)."""
    label = KIND_LABELS.get(kind)
    return translator.gettext(label) if label else kind


def _counts(counts: stats.TicketCounts) -> list[Any]:
    mean = counts.mean_rating
    return [
        counts.received,
        counts.answered,
        counts.on_time,
        _share(counts.on_time, counts.answered),
        counts.open_late,
        round(mean, 2) if mean is not None else None,
    ]


def _area_name(report: ReportInput, code: str) -> str:
    area = report.areas.get(code) if code else None
    return area.label if area else (code or report.translator.gettext(N_("No commune given")))


def _ticket_sheet(sheet: Worksheet, rows: list[list[Any]]) -> None:
    _header(sheet, list(TICKET_COLUMNS), (11, 11, 16, 12, 12, 22, 17, 17, 17, 8, 7, 9, 22, 60))
    for row in rows:
        _append(sheet, row)


def _notice_sheet(sheet: Worksheet, reach: list[stats.BroadcastReach], report: ReportInput) -> None:
    _ = report.translator.gettext
    _header(
        sheet,
        [
            "id",
            _("Send at"),
            _("Author"),
            _("Campaign"),
            _("Areas"),
            _("Status"),
            _("Queued"),
            _("Delivered"),
            _("Failed"),
            _("Skipped"),
            _("Still waiting"),
            _("Text"),
        ],
        (6, 17, 14, 16, 22, 10, 9, 9, 9, 9, 9, 60),
    )
    for item in reach:
        broadcast = item.broadcast
        areas = ", ".join(_area_name(report, code) for code in broadcast.target.get("areas") or []) or _(
            "Whole province"
        )
        _append(
            sheet,
            [
                broadcast.id,
                _local(broadcast.send_at, report.tz),
                broadcast.author,
                broadcast.campaign or "",
                areas,
                broadcast.status,
                item.queued,
                item.counts["sent"],
                item.counts["failed"],
                item.counts["skipped"],
                item.counts["pending"],
                str(broadcast.texts.get("vi", "")),
            ],
        )


def _faq_sheet(sheet: Worksheet, usage: list[stats.FaqUsage], report: ReportInput) -> None:
    _ = report.translator.gettext
    _header(
        sheet,
        ["id", _("Topic"), _("Question"), _("Shown"), _("Helpful"), _("Not helpful"), _("Share helpful")],
        (28, 16, 60, 9, 9, 9, 10),
    )
    for item in usage:
        _append(
            sheet,
            [
                item.faq_id,
                item.topic,
                item.question,
                item.shown,
                item.helpful,
                item.unhelpful,
                _share(item.helpful, item.helpful + item.unhelpful),
            ],
        )


def _commune_sheet(
    sheet: Worksheet,
    report: ReportInput,
    summary: stats.TicketSummary,
    subscribers: dict[str, int],
    newcomers: dict[str, int],
    delivered: dict[str, int],
) -> None:
    _ = report.translator.gettext
    _header(
        sheet,
        [
            _("Code"),
            _("Commune"),
            _("Subscribers"),
            _("New citizens"),
            _("Notices delivered"),
            _("Tickets received"),
            _("Answered"),
            _("Answered on time"),
            _("Open and overdue"),
        ],
        (8, 26, 12, 12, 12, 10, 10, 12, 12),
    )
    codes = set(subscribers) | set(newcomers) | set(delivered) | set(summary.by_area)
    if report.area:
        codes.add(report.area)
    for code in sorted(codes, key=lambda c: (c == "", _area_name(report, c))):
        counts = summary.by_area.get(code, stats.TicketCounts())
        _append(
            sheet,
            [
                code,
                _area_name(report, code),
                subscribers.get(code, 0),
                newcomers.get(code, 0),
                delivered.get(code, 0),
                counts.received,
                counts.answered,
                counts.on_time,
                counts.open_late,
            ],
        )


async def report_bytes(session: AsyncSession, report: ReportInput) -> bytes:
    """The workbook as the bytes of an .xlsx file."""
    figures = await read_figures(lambda: _same(session), report)
    buffer = BytesIO()
    await asyncio.to_thread(write_workbook, report, figures, buffer)
    return buffer.getvalue()


async def write_report(session: AsyncSession, report: ReportInput, path: Path) -> None:
    """Write the workbook to a file."""
    path.write_bytes(await report_bytes(session, report))


def file_name(period: Period, area: str | None) -> str:
    """bao-cao_2026-01-01_2026-06-30[_24175].xlsx"""
    return f"bao-cao_{period.first.isoformat()}_{period.last.isoformat()}{'_' + area if area else ''}.xlsx"
