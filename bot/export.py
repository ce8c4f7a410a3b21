"""Ticket export for reports: CSV (UTF-8 with a BOM, so Excel shows Vietnamese) or XLSX.

Exports never contain who sent an anonymous ticket, nor any citizen id.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Literal
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Area, Ticket
from storage.ticket_rules import is_overdue

Format = Literal["csv", "xlsx"]
Cell = str | int | datetime | None
COLUMNS = (
    "code",
    "kind",
    "topic",
    "status",
    "commune_code",
    "commune",
    "created",
    "due",
    "answered",
    "overdue",
    "rating",
    "resolved",
    "reporter",
    "body",
)
DATE_FORMAT = "%Y-%m-%d %H:%M"
# A spreadsheet runs a cell that starts like a formula; citizens write these cells.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportError(ValueError):
    """An export request that cannot be done (e.g. an unknown area)."""


async def ticket_rows(
    session: AsyncSession, *, tz: ZoneInfo, now: datetime, since: date | None = None, area: str | None = None
) -> list[list[Cell]]:
    """One row per ticket, oldest first, in COLUMNS order with local (naive) datetimes."""
    areas = {row.code: row for row in (await session.exec(select(Area))).all()}
    if area is not None and area not in areas:
        raise ExportError(f"unknown area {area!r}")
    query = select(Ticket)
    if since is not None:
        query = query.where(col(Ticket.created_at) >= datetime.combine(since, time(0), tzinfo=tz))
    if area is not None:
        query = query.where(Ticket.area_code == area)
    tickets = (await session.exec(query.order_by(col(Ticket.created_at), col(Ticket.id)))).all()
    return [_row(ticket, areas.get(ticket.area_code or ""), tz, now) for ticket in tickets]


async def rows_of(session: AsyncSession, tickets: Sequence[Ticket], *, tz: ZoneInfo, now: datetime) -> list[list[Cell]]:
    """Export rows of tickets already chosen (and scoped) by the caller, in their order."""
    codes = {ticket.area_code for ticket in tickets if ticket.area_code}
    areas = (
        {row.code: row for row in (await session.exec(select(Area).where(col(Area.code).in_(codes)))).all()}
        if codes
        else {}
    )
    return [_row(ticket, areas.get(ticket.area_code or ""), tz, now) for ticket in tickets]


def _row(ticket: Ticket, area: Area | None, tz: ZoneInfo, now: datetime) -> list[Cell]:
    """A ticket as export cells; `overdue` also marks tickets that were answered late."""
    late = is_overdue(ticket.due_at, ticket.status, now) or (
        ticket.answered_at is not None and ticket.answered_at > ticket.due_at
    )
    return [
        ticket.code,
        ticket.kind,
        ticket.topic,
        ticket.status,
        ticket.area_code or "",
        area.name if area else "",
        _local(ticket.created_at, tz),
        _local(ticket.due_at, tz),
        _local(ticket.answered_at, tz),
        "yes" if late else "no",
        ticket.rating,
        "" if ticket.resolved is None else ("yes" if ticket.resolved else "no"),
        "" if ticket.anonymous else (ticket.reporter_name or ""),
        ticket.body,
    ]


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """Local wall-clock time without a zone (spreadsheets cannot store zones)."""
    return moment.astimezone(tz).replace(tzinfo=None) if moment is not None else None


def write_csv(rows: Sequence[Sequence[Cell]], path: Path) -> None:
    """Write rows under a header as CSV in UTF-8 with a BOM."""
    path.write_bytes(as_bytes(rows, "csv"))


def _csv_cell(value: Cell) -> str:
    """Text for one CSV cell; formula-like text gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_xlsx(rows: Sequence[Sequence[Cell]], path: Path | IO[bytes]) -> None:
    """Write rows under a bold, frozen header as an XLSX workbook with real date cells."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "tickets"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value for value in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would store "=…" as a formula
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    for letter, width in zip("ABCDEFGHIJKLMN", (11, 11, 16, 12, 12, 22, 17, 17, 17, 8, 7, 9, 22, 60), strict=True):
        sheet.column_dimensions[letter].width = width
    workbook.save(path)


def as_bytes(rows: Sequence[Sequence[Cell]], fmt: Format) -> bytes:
    """The file contents of rows as CSV or XLSX (for a download)."""
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        writer.writerows([_csv_cell(value) for value in row] for row in rows)
        return buffer.getvalue().encode("utf-8-sig")
    stream = io.BytesIO()
    write_xlsx(rows, stream)
    return stream.getvalue()


async def export_tickets(
    session: AsyncSession,
    path: Path,
    fmt: Format,
    *,
    tz: ZoneInfo,
    now: datetime,
    since: date | None = None,
    area: str | None = None,
) -> int:
    """Write the selected tickets to `path` as CSV or XLSX; return how many."""
    rows = await ticket_rows(session, tz=tz, now=now, since=since, area=area)
    (write_xlsx if fmt == "xlsx" else write_csv)(rows, path)
    return len(rows)
