"""The report workbook: its totals match the database, it respects the area, it hides anonymous senders,
it cannot run a formula; periods; the SVG chart helpers; and `python -m bot report`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import select

from bot import charts
from bot.config import Settings
from bot.export import COLUMNS
from bot.report import Period, PeriodError, ReportInput, preset, report_bytes
from content.areas import AreaDirectory
from content.i18n import Catalogs
from storage.db import SessionFactory
from storage.models import (
    AuditEntry, Broadcast, Citizen, FaqRow, FaqUsageRow, OutboxMessage, Ticket, TicketStatus, UnansweredQuestion,
)
from tests.dashboard import COMMUNE, OTHER_COMMUNE
from tests.test_staff_cli import run_cli

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
SECRET_NAME = "Lê Thị Bí Mật"
FORMULA = '=HYPERLINK("http://evil.example","bấm vào")'
PERIOD = Period(date(2026, 2, 8), date(2026, 3, 10))


@dataclass(frozen=True)
class Seeded:
    """What `seed` stored that the tests look for."""

    faq_ids: tuple[str, str]
    topics: tuple[str, str]
    broadcast_ids: tuple[int, int]


async def seed(sessions: SessionFactory, now: datetime = NOW) -> Seeded:
    """Citizens, tickets, two notices with outbox rows, FAQ counters and unanswered questions around `now`.

    Whole province, the 30 days up to `now`: 4 tickets (3 answered, 2 on time, 1 open and late), median
    answer 24 h, ratings 5/2/4; subscribers 2 in COMMUNE and 1 in OTHER_COMMUNE; notice messages 6 (3 sent
    to 2 citizens, 1 failed, 1 skipped, 1 waiting); FAQ answers 42 (11 helpful, 3 not). COMMUNE alone: 3 tickets;
    notice messages 3 (2 sent, 1 failed); FAQ answers 20 (6 helpful, 1 not).
    """
    day = timedelta(days=1)
    async with sessions() as session:
        def citizen(n: int, area: str, *, subscribed: bool = True, unreachable: bool = False) -> Citizen:
            return Citizen(channel="telegram", channel_user_id=str(9000 + n), area_code=area, subscribed=subscribed,
                           consent_at=now - 40 * day, unreachable_at=now - day if unreachable else None,
                           created_at=now - (5 + n) * day, last_seen_at=now)

        people = [citizen(1, COMMUNE), citizen(2, COMMUNE), citizen(3, OTHER_COMMUNE), citizen(4, COMMUNE, subscribed=False),
                  citizen(5, OTHER_COMMUNE, unreachable=True)]
        session.add_all(people)
        await session.flush()

        def ticket(code: str, kind: str, area: str, created: datetime, due: datetime, answered: datetime | None, **extra: object) -> Ticket:
            status = TicketStatus.answered if answered else TicketStatus.new
            return Ticket(code=code, kind=kind, area_code=area, status=status, body=str(extra.pop("body", "Hỏi về hỗ trợ")),
                          created_at=created, due_at=due, answered_at=answered, updated_at=now, **extra)

        session.add_all([
            ticket("PA-AAAAA2", "question", COMMUNE, now - 10 * day, now - 7 * day, now - 9 * day, rating=5, resolved=True,
                   anonymous=True, reporter_name=SECRET_NAME, citizen_id=people[0].id),
            ticket("PA-AAAAA3", "complaint", COMMUNE, now - 20 * day, now - 10 * day, now - 5 * day, rating=2, resolved=False,
                   reporter_name="Phạm Văn C", body=FORMULA, citizen_id=people[1].id),
            ticket("PA-AAAAA4", "feedback", COMMUNE, now - 3 * day, now - day, None),
            ticket("PA-AAAAA5", "problem", OTHER_COMMUNE, now - 5 * day, now + day, now - 4 * day, rating=4),
            ticket("PA-AAAAA6", "question", OTHER_COMMUNE, now - 400 * day, now - 390 * day, now - 399 * day),
        ])
        notices = [Broadcast(texts={"vi": "Họp bình xét hộ nghèo"}, target={"areas": [COMMUNE, OTHER_COMMUNE]}, status="done",
                             send_at=now - 6 * day, created_at=now - 6 * day, author="boss"),
                   Broadcast(texts={"vi": "=cmd|' /C calc'!A0"}, target={"areas": []}, status="queued",
                             send_at=now - 2 * day, created_at=now - 2 * day, author="boss")]
        session.add_all(notices)
        await session.flush()

        def message(broadcast: Broadcast, person: Citizen, status: str) -> OutboxMessage:
            return OutboxMessage(citizen_id=person.id, channel="telegram", chat_id=person.channel_user_id, payload={},
                                 status=status, next_attempt_at=broadcast.send_at, created_at=broadcast.send_at,
                                 broadcast_id=broadcast.id, dedupe_key=f"b{broadcast.id}:{person.id}",
                                 sent_at=broadcast.send_at if status == "sent" else None)

        session.add_all([
            message(notices[0], people[0], "sent"), message(notices[0], people[1], "failed"),
            message(notices[0], people[2], "sent"), message(notices[0], people[4], "skipped"),
            message(notices[1], people[0], "sent"), message(notices[1], people[2], "pending"),
        ])
        entries = list((await session.exec(select(FaqRow).order_by(FaqRow.position))).all())
        first = entries[0]
        second = next(entry for entry in entries if entry.topic != first.topic)
        def usage(entry: FaqRow, area: str, when: datetime, shown: int, helpful: int, unhelpful: int) -> FaqUsageRow:
            return FaqUsageRow(hour=when.replace(minute=0, second=0, microsecond=0), area_code=area, faq_id=entry.id,
                               shown=shown, helpful=helpful, unhelpful=unhelpful)

        session.add_all([usage(first, COMMUNE, now - 2 * day, 20, 6, 1), usage(first, "", now - 8 * day, 10, 3, 0),
                         usage(second, OTHER_COMMUNE, now - day, 12, 2, 2),
                         usage(second, COMMUNE, now - 400 * day, 99, 50, 0)])
        session.add_all([
            UnansweredQuestion(key="giay chung nhan", text="xin giấy chứng nhận hộ nghèo ở đâu", count=7,
                               first_asked_at=now - 9 * day, last_asked_at=now - 2 * day),
            UnansweredQuestion(key="gia lua", text="=1+1 giá lúa hôm nay", count=3, first_asked_at=now - 3 * day,
                               last_asked_at=now - 3 * day),
            UnansweredQuestion(key="cu", text="câu hỏi cũ", count=99, first_asked_at=now - 500 * day,
                               last_asked_at=now - 500 * day),
        ])
        await session.commit()
        return Seeded((first.id, second.id), (first.topic, second.topic), (notices[0].id or 0, notices[1].id or 0))


async def workbook_of(sessions: SessionFactory, area: str | None = None, period: Period = PERIOD):  # type: ignore[no-untyped-def]
    """The report in English, opened again with openpyxl."""
    report = ReportInput(period, area, TZ, NOW, AreaDirectory.load(), Catalogs(TZ).get("en"))
    async with sessions() as session:
        data = await report_bytes(session, report)
    return load_workbook(BytesIO(data))


def labelled(sheet: Worksheet) -> dict[str, list[object]]:
    """Rows keyed by their first cell (the first row wins when a label repeats)."""
    found: dict[str, list[object]] = {}
    for row in sheet.iter_rows(values_only=True):
        if row and isinstance(row[0], str):
            found.setdefault(row[0], list(row[1:]))
    return found


async def test_the_summary_matches_the_database(sessions: SessionFactory) -> None:
    await seed(sessions)
    book = await workbook_of(sessions)
    assert book.sheetnames == ["Summary", "Tickets", "Notices", "FAQ usage", "By commune"]
    summary = labelled(book["Summary"])
    assert summary["Period"][:2] == [datetime(2026, 2, 8), datetime(2026, 3, 10)]
    assert summary["Area"][0] == "Whole province"
    assert summary["Subscribers receiving notices today"][0] == 3
    assert summary["New citizens who wrote to the bot"][0] == 5
    assert summary["Citizens reached by notices"][0] == 2
    assert summary["Notices sent"][0] == 2
    assert summary["Notice messages queued"][0] == 6
    assert [summary[key][0] for key in ("Delivered", "Failed", "Skipped", "Still waiting")] == [3, 1, 1, 1]
    assert summary["Questions answered by the bot"][0] == 42
    assert summary["Rated helpful"][0] == 11 and summary["Rated not helpful"][0] == 3
    # received, answered, on time, share on time, open and late, average rating
    assert summary["Total"][:6] == [4, 3, 2, pytest.approx(2 / 3, abs=1e-3), 1, pytest.approx(11 / 3, abs=0.01)]
    assert summary["Complaint"][:5] == [1, 1, 0, 0, 0]
    assert summary["Feedback"][:5] == [1, 0, 0, None, 1]
    assert summary["xã Hòa Phú"][:3] == [3, 2, 1]
    assert summary["xin giấy chứng nhận hộ nghèo ở đâu"][0] == 7
    assert "câu hỏi cũ" not in summary  # last asked outside the period


async def test_ticket_rows_hide_anonymous_senders_and_cannot_run_formulas(sessions: SessionFactory) -> None:
    await seed(sessions)
    book = await workbook_of(sessions)
    sheet = book["Tickets"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == COLUMNS and "citizen_id" not in rows[0]
    codes = [row[0] for row in rows[1:]]
    assert codes == ["PA-AAAAA3", "PA-AAAAA2", "PA-AAAAA5", "PA-AAAAA4"]  # oldest first, none from last year
    flat = [value for row in rows for value in row]
    assert SECRET_NAME not in flat and "Phạm Văn C" in flat
    formula_cells = [cell for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str) and cell.value.startswith("=")]
    assert formula_cells and all(cell.data_type == "s" for cell in formula_cells)
    for name in ("Notices", "Summary"):
        cells = [cell for row in book[name].iter_rows() for cell in row if isinstance(cell.value, str) and cell.value.startswith("=")]
        assert cells and all(cell.data_type == "s" for cell in cells), name


async def test_notice_faq_and_commune_sheets(sessions: SessionFactory) -> None:
    seeded = await seed(sessions)
    book = await workbook_of(sessions)
    notices = {row[0]: row for row in book["Notices"].iter_rows(min_row=2, values_only=True)}
    first, second = seeded.broadcast_ids
    assert notices[first][6:11] == (4, 2, 1, 1, 0)
    assert notices[second][6:11] == (2, 1, 0, 0, 1)
    faq = {row[0]: row for row in book["FAQ usage"].iter_rows(min_row=2, values_only=True)}
    assert faq[seeded.faq_ids[0]][3:7] == (30, 9, 1, 0.9)
    assert faq[seeded.faq_ids[1]][3:6] == (12, 2, 2)
    communes = {row[0]: row for row in book["By commune"].iter_rows(min_row=2, values_only=True)}
    # code, name, subscribers, new citizens, notices delivered, received, answered, on time, open and late
    assert communes[COMMUNE][2:] == (2, 3, 2, 3, 2, 1, 1)
    assert communes[OTHER_COMMUNE][2:] == (1, 2, 1, 1, 1, 1, 0)


async def test_a_commune_report_counts_only_that_commune(sessions: SessionFactory) -> None:
    await seed(sessions)
    book = await workbook_of(sessions, COMMUNE)
    summary = labelled(book["Summary"])
    assert summary["Area"][0] == "xã Hòa Phú"
    assert summary["Total"][:3] == [3, 2, 1]
    assert summary["Notice messages queued"][0] == 3 and summary["Delivered"][0] == 2
    assert summary["Citizens reached by notices"][0] == 1
    assert summary["Subscribers receiving notices today"][0] == 2
    assert summary["Questions answered by the bot"][0] == 20
    assert summary["Rated helpful"][0] == 6 and summary["Rated not helpful"][0] == 1
    faq = {row[0]: row[3:6] for row in book["FAQ usage"].iter_rows(min_row=2, values_only=True)}
    assert sorted(count for count in faq.values() if count != (0, 0, 0)) == [(20, 6, 1)]
    areas = {row[4] for row in book["Tickets"].iter_rows(min_row=2, values_only=True)}
    assert areas == {COMMUNE}
    assert {row[0] for row in book["By commune"].iter_rows(min_row=2, values_only=True)} == {COMMUNE}


async def test_an_empty_period_gives_zeros_not_errors(sessions: SessionFactory) -> None:
    await seed(sessions)
    book = await workbook_of(sessions, period=Period(date(2020, 1, 1), date(2020, 6, 30)))
    summary = labelled(book["Summary"])
    assert summary["Total"][:6] == [0, 0, 0, None, 0, None]
    assert summary["Questions answered by the bot"][0] == 0
    assert book["Tickets"].max_row == 1


def test_periods() -> None:
    today = date(2026, 3, 10)
    assert preset("this-half", today) == Period(date(2026, 1, 1), date(2026, 6, 30))
    assert preset("last-half", today) == Period(date(2025, 7, 1), date(2025, 12, 31))
    assert preset("last-half", date(2026, 9, 1)) == Period(date(2026, 1, 1), date(2026, 6, 30))
    assert preset("this-year", today) == Period(date(2026, 1, 1), date(2026, 12, 31))
    assert preset("last-year", today) == Period(date(2025, 1, 1), date(2025, 12, 31))
    scope = Period(date(2026, 1, 1), date(2026, 1, 31)).scope(TZ, None)
    assert scope.start == datetime(2025, 12, 31, 17, 0, tzinfo=UTC) and scope.end == datetime(2026, 1, 31, 17, 0, tzinfo=UTC)
    for first, last in (("2026-13-01", "2026-12-31"), ("x", ""), ("2026-02-01", "2026-01-01"), ("2020-01-01", "2026-01-01")):
        with pytest.raises(PeriodError):
            Period.parse(first, last)
    with pytest.raises(PeriodError):
        preset("forever", today)


def test_charts_escape_labels_and_use_no_inline_styles() -> None:
    evil = '<script>alert("x")</script>'
    svg = str(charts.horizontal_bars([(evil, 3), ("xã Hòa Phú", 12)], title=evil, ident="t"))
    svg += str(charts.stacked_bars(["T1", evil], [charts.Series(evil, [1, 2]), charts.Series("b", [0, 5])], title="x"))
    svg += str(charts.line_chart(["T1", "T2", "T3"], [charts.Series("m", [1.5, None, 3])], title="x"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "style=" not in svg
    assert ">12<" in svg and ">7<" in svg  # the value label and a stacked total
    assert charts.nice_max(0) == 1 and charts.nice_max(7) == 10 and charts.nice_max(120) == 200


async def test_the_report_command_writes_the_workbook_and_logs_it(settings: Settings, sessions: SessionFactory,
                                                                  tmp_path: Path) -> None:
    await seed(sessions)
    target = tmp_path / "bao-cao.xlsx"
    result = run_cli(settings, "report", "--from", "2026-02-08", "--to", "2026-03-10", "--area", COMMUNE, "-o", str(target))
    assert result.returncode == 0, result.stderr
    summary = labelled(load_workbook(target)["Tổng hợp"])
    assert summary["Kỳ báo cáo"][:2] == [datetime(2026, 2, 8), datetime(2026, 3, 10)]
    assert summary["Tổng cộng"][:3] == [3, 2, 1]
    async with sessions() as session:
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "export.report"))).one()
    assert entry.actor == "cli" and entry.detail["area"] == COMMUNE
    bad = run_cli(settings, "report", "--from", "2026-03-10", "--to", "2026-02-08", "-o", str(target))
    assert bad.returncode == 2 and "before the start" in bad.stderr
    unknown = run_cli(settings, "report", "--from", "2026-01-01", "--to", "2026-02-08", "--area", "99999", "-o", str(target))
    assert unknown.returncode == 2 and "unknown commune" in unknown.stderr


async def test_the_same_totals_on_every_database_backend(db_sessions: SessionFactory) -> None:
    await seed(db_sessions)
    for area, total, queued, answers in ((None, [4, 3, 2], 6, 42), (COMMUNE, [3, 2, 1], 3, 20)):
        summary = labelled((await workbook_of(db_sessions, area))["Summary"])
        assert summary["Total"][:3] == total and summary["Notice messages queued"][0] == queued
        assert summary["Questions answered by the bot"][0] == answers
        assert summary["Citizens reached by notices"][0] == (2 if area is None else 1)
        assert summary["xin giấy chứng nhận hộ nghèo ở đâu"][0] == 7
