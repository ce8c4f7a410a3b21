"""Ticket export: CSV and XLSX rows, local dates, area filter, and no anonymous sender's name."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.config import Settings
from bot.export import COLUMNS, ExportError, export_tickets
from storage import ticket_rules, tickets
from storage.db import SessionFactory
from storage.models import StaffRole, TicketKind
from storage.staff import create_staff
from tests.test_staff_cli import run_cli

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CREATED = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
LATER = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
SECRET_NAME = "Lê Thị Bí Mật"


@pytest.fixture
async def stored(sessions: SessionFactory) -> dict[str, str]:
    """Three tickets: answered in Hòa Phú, anonymous and overdue in Hòa Phú, one from Tân An last month."""
    async with sessions() as session:
        officer = await create_staff(session, "officer", StaffRole.commune, "24175", None, CREATED)

        async def make(
            area: str, now: datetime, *, anonymous: bool = False, name: str = "Phạm Văn C", body: str = "Chưa nhận hỗ trợ"
        ) -> str:
            ticket = await tickets.create_ticket(
                session, citizen_id=None, kind=TicketKind.complaint, topic="aid", body=body, area_code=area,
                anonymous=anonymous, reporter_name=name, locale="vi", now=now,
                due_at=ticket_rules.add_working_days(now, 3, tz=TZ, holidays=frozenset()),
            )
            return ticket.code

        answered = await make("24175", CREATED)
        ticket = await tickets.get_by_code(session, answered)
        await tickets.reply(session, ticket, officer, "Đã chi trả", CREATED + timedelta(hours=2))  # type: ignore[arg-type]
        await tickets.rate(session, ticket, 5, True, CREATED + timedelta(hours=3))  # type: ignore[arg-type]
        hidden = await make("24175", CREATED, anonymous=True, name=SECRET_NAME, body="=HYPERLINK(\"x\")")
        old = await make("24163", CREATED - timedelta(days=31))
        await session.commit()
    return {"answered": answered, "hidden": hidden, "old": old}


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV export, checking the BOM Excel needs."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))


async def test_csv_has_the_rows_in_local_time_and_hides_anonymous_senders(
    sessions: SessionFactory, stored: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "tickets.csv"
    async with sessions() as session:
        assert await export_tickets(session, path, "csv", tz=TZ, now=LATER) == 3
    rows = {row["code"]: row for row in read_csv(path)}
    assert list(next(iter(rows.values()))) == list(COLUMNS)
    answered = rows[stored["answered"]]
    assert answered["created"] == "2026-11-30 10:00" and answered["answered"] == "2026-11-30 12:00"
    assert answered["due"] == "2026-12-02 17:00" and answered["overdue"] == "no"
    assert (answered["commune_code"], answered["commune"], answered["status"]) == ("24175", "Hòa Phú", "answered")
    assert (answered["rating"], answered["resolved"], answered["reporter"]) == ("5", "yes", "Phạm Văn C")
    hidden = rows[stored["hidden"]]
    assert hidden["reporter"] == "" and hidden["overdue"] == "yes" and hidden["answered"] == ""
    assert hidden["body"] == "'=HYPERLINK(\"x\")"  # a spreadsheet must not run citizens' text
    assert SECRET_NAME not in path.read_text(encoding="utf-8-sig")


async def test_xlsx_has_the_same_rows_as_text_and_dates(
    sessions: SessionFactory, stored: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "tickets.xlsx"
    async with sessions() as session:
        await export_tickets(session, path, "xlsx", tz=TZ, now=LATER, since=date(2026, 11, 1))
    sheet = load_workbook(path).active
    values = list(sheet.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert values[0] == COLUMNS
    rows = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in values[1:]}
    assert set(rows) == {stored["answered"], stored["hidden"]}
    assert rows[stored["answered"]]["created"] == datetime(2026, 11, 30, 10, 0)
    assert rows[stored["hidden"]]["reporter"] is None and rows[stored["hidden"]]["body"] == "=HYPERLINK(\"x\")"
    assert all(SECRET_NAME not in str(cell) for row in values for cell in row)


async def test_area_filter_and_unknown_area(sessions: SessionFactory, stored: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "tan_an.csv"
    async with sessions() as session:
        await export_tickets(session, path, "csv", tz=TZ, now=LATER, area="24163")
        assert [row["code"] for row in read_csv(path)] == [stored["old"]]
        with pytest.raises(ExportError, match="unknown area"):
            await export_tickets(session, path, "csv", tz=TZ, now=LATER, area="00000")


def test_export_command_writes_the_file(settings: Settings, stored: dict[str, str], tmp_path: Path) -> None:
    output = tmp_path / "hoa_phu.xlsx"
    result = run_cli(settings, "export", "tickets", "--area", "24175", "--since", "2026-11-01", "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote 2 tickets to {output}"
    codes = {row[0] for row in load_workbook(output).active.iter_rows(min_row=2, values_only=True)}  # type: ignore[union-attr]
    assert codes == {stored["answered"], stored["hidden"]}
    csv_out = tmp_path / "all.csv"
    assert run_cli(settings, "export", "tickets", "--format", "csv", "-o", str(csv_out)).returncode == 0
    assert len(read_csv(csv_out)) == 3
    bad = run_cli(settings, "export", "tickets", "--area", "00000", "-o", str(csv_out))
    assert bad.returncode == 2 and bad.stderr.strip() == "export tickets: unknown area '00000'"
