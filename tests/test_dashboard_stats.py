"""Statistics, reports and posters in the dashboard: figures, area scope (404 outside it), bad input, the
downloaded workbook and its audit entry, poster links and QR codes."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.app import create_app
from storage.models import AuditEntry, StaffRole
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, OTHER_COMMUNE, add_staff, figure, sign_in
from tests.fakes.telegram import BOT_USERNAME
from tests.test_report import NOW, seed

PERIOD = "from=2026-02-08&to=2026-03-10"
PERIOD_FORM = (("from", "2026-02-08"), ("to", "2026-03-10"))


async def signed_in(settings, aiohttp_client, sessions, username: str, role: StaffRole, area: str | None = None):  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(settings, clock=lambda: NOW))
    await add_staff(sessions, username, role, area)
    return await sign_in(client, username)


async def test_statistics_show_the_figures_in_charts_and_tables(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.province)
    html = await boss.page(f"/admin/stats?{PERIOD}")
    assert figure(html, "total-received") == "4"
    assert html.count("<svg") == 5 and "style=" not in html and "<script" not in html
    assert 'role="img"' in html and "Phản ánh theo tuần và theo loại" in html
    ratings = html.split('id="table-ratings"')[1].split("</table>")[0]
    assert re.search(r"5 ★</td><td[^>]*>1<", ratings) and re.search(r"3 ★</td><td[^>]*>0<", ratings)
    subscribers = html.split('id="table-subscribers"')[1].split("</table>")[0]
    assert re.search(r"xã Hòa Phú</td><td[^>]*>2<", subscribers)
    topics = html.split('id="table-topics"')[1].split("</table>")[0]
    assert ">30<" in topics and "90 %" in topics
    reach = html.split('id="table-reach"')[1].split("</table>")[0]
    assert "Họp bình xét hộ nghèo" in reach and "=cmd|" in reach
    assert "1 ngày" in html or "24 giờ" in html  # the median time to answer


async def test_the_default_period_is_the_last_twelve_weeks(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.admin)
    html = await boss.page("/admin/stats")
    assert 'name="from" value="2025-12-17"' in html and 'name="to" value="2026-03-10"' in html
    assert figure(html, "total-received") == "4"
    english = await boss.page("/admin/stats?lang=en")
    assert "Tickets per week by kind" in english


async def test_commune_staff_see_only_their_commune(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    officer = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    html = await officer.page(f"/admin/stats?{PERIOD}")
    assert figure(html, "total-received") == "3"
    assert 'name="area"' not in html and "Buôn Ma Thuột</td>" not in html
    assert (await officer.get(f"/admin/stats?{PERIOD}&area={OTHER_COMMUNE}")).status == 404
    mine = await officer.page(f"/admin/stats?{PERIOD}&area={COMMUNE}")
    assert figure(mine, "total-received") == "3"
    topics = mine.split('id="table-topics"')[1].split("</table>")[0]
    assert ">20<" in topics and "86 %" in topics and ">12<" not in topics  # 6 of 7 votes; the other commune's 12 answers


async def test_provincial_staff_filter_by_commune(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.province)
    assert figure(await boss.page(f"/admin/stats?{PERIOD}&area={OTHER_COMMUNE}"), "total-received") == "1"


async def test_bad_filters_get_a_clear_message(settings, aiohttp_client, sessions) -> None:
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.province)
    for query, message in (("from=2026-13-01&to=2026-03-01", "Vui lòng nhập ngày theo dạng"),
                           ("from=2026-03-01&to=2026-02-01", "Ngày kết thúc đang trước ngày bắt đầu"),
                           ("from=2020-01-01&to=2026-01-01", "không quá ba năm"),
                           ("from=2026-03-01", "Vui lòng nhập ngày theo dạng"),
                           ("area=99999", "Không có xã, phường nào mang mã này"),
                           ("area=66", "Không có xã, phường nào mang mã này")):
        response = await boss.get(f"/admin/stats?{query}")
        html = await response.text()
        assert response.status == 400 and message in html, query
        assert 'role="alert"' in html


@pytest.fixture(autouse=True)
def _patient_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report asked for here is small: it comes back as its file within the wait, given time on a busy machine."""
    from bot.dashboard import reports

    monkeypatch.setattr(reports, "WAIT_SECONDS", 30.0)


async def made(staff, **form: str):  # type: ignore[no-untyped-def]
    """Ask for a report with the form; a report ready within the wait comes back as a redirect to its file: that file."""
    asked = await staff.post("/admin/reports/jobs", form)
    if asked.status != 303:
        return asked
    assert asked.headers["Location"].endswith("/file"), asked.headers["Location"]
    return await staff.get(asked.headers["Location"])


async def test_the_report_downloads_as_a_workbook_and_is_logged(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.province)
    page = await boss.page("/admin/reports")
    assert 'value="last-half"' in page and "01/07/2025" in page and 'name="area"' in page
    response = await made(boss, period="custom", **dict(PERIOD_FORM))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert 'filename="bao-cao_2026-02-08_2026-03-10.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(BytesIO(await response.read()))
    assert book.sheetnames[0] == "Tổng hợp" and book["Phản ánh"].max_row == 5
    preset = await made(boss, period="this-half")
    assert preset.status == 200 and "bao-cao_2026-01-01_2026-06-30" in preset.headers["Content-Disposition"]
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "report.download"))).all()
        asked = (await session.exec(select(AuditEntry).where(AuditEntry.action == "report.request"))).all()
    assert len(entries) == 2 and entries[0].actor == "boss" and entries[0].detail["first"] == "2026-02-08"
    assert len(asked) == 2 and asked[1].detail["preset"] == "this-half"


async def test_a_commune_officer_downloads_only_their_commune(settings, aiohttp_client, sessions) -> None:
    await seed(sessions)
    officer = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    page = await officer.page("/admin/reports")
    assert 'name="area"' not in page and "xã Hòa Phú" in page
    response = await made(officer, period="custom", **dict(PERIOD_FORM))
    assert response.status == 200 and f"_{COMMUNE}.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(BytesIO(await response.read()))
    assert {row[4] for row in book["Phản ánh"].iter_rows(min_row=2, values_only=True)} == {COMMUNE}
    assert (await officer.post("/admin/reports/jobs", {"period": "this-year", "area": OTHER_COMMUNE})).status == 404


async def test_bad_report_requests_get_a_clear_message(settings, aiohttp_client, sessions) -> None:
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.admin)
    for form, message in (({"period": "custom", "from": "2026-05-01", "to": "2026-04-01"}, "Ngày kết thúc đang trước ngày bắt đầu"),
                          ({"period": "someday"}, "Vui lòng chọn một trong các kỳ có sẵn"),
                          ({"period": "custom", "from": "hôm qua", "to": "nay"}, "Vui lòng nhập ngày theo dạng"),
                          ({"period": "this-year", "area": "nowhere"}, "Không có xã, phường nào mang mã này")):
        response = await boss.post("/admin/reports/jobs", form)
        assert response.status == 400 and message in await response.text(), form
    async with sessions() as session:
        assert (await session.exec(select(AuditEntry).where(col(AuditEntry.action).in_(("report.download", "report.request"))))).all() == []


async def test_posters_list_the_communes_in_scope(settings, aiohttp_client, sessions) -> None:
    boss = await signed_in(settings, aiohttp_client, sessions, "boss", StaffRole.province)
    listing = await boss.page("/admin/posters")
    assert listing.count('href="/admin/posters/') > 100
    assert "PUBLIC_BASE_URL" in listing and "Telegram chưa được kết nối" in listing
    officer = await signed_in(settings, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    own = await officer.page("/admin/posters")
    assert re.findall(r'href="/admin/posters/(\w+)"', own) == [COMMUNE]
    assert (await officer.get(f"/admin/posters/{OTHER_COMMUNE}")).status == 404
    assert (await officer.get(f"/admin/posters/{OTHER_COMMUNE}.svg?via=web")).status == 404
    assert (await boss.get("/admin/posters/99999")).status == 404
    assert (await boss.get("/admin/posters/66")).status == 404  # the province is not a commune


async def test_a_poster_links_the_web_chat_with_the_commune_and_serves_its_qr_code(settings, aiohttp_client, sessions) -> None:
    # http, not https: with an https address the cookies are Secure and the test client would not send them back
    public = settings.model_copy(update={"public_base_url": "http://caunoi.daklak.example"})
    officer = await signed_in(public, aiohttp_client, sessions, "hoaphu", StaffRole.commune, COMMUNE)
    html = await officer.page(f"/admin/posters/{COMMUNE}")
    assert f"http://caunoi.daklak.example/chat?start=area_{COMMUNE}" in html
    assert "t.me/" not in html and "xã Hòa Phú" in html and "miễn phí" in html and "/phananh" in html
    assert f'src="/admin/posters/{COMMUNE}.svg?via=web"' in html and "style=" not in html
    qr = await officer.get(f"/admin/posters/{COMMUNE}.svg?via=web")
    body = await qr.text()
    assert qr.status == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")
    assert "<svg" in body and 'xmlns="http://www.w3.org/2000/svg"' in body and f"area_{COMMUNE}" in body
    assert (await officer.get(f"/admin/posters/{COMMUNE}.svg?via=telegram")).status == 404  # Telegram is off
    assert (await officer.get(f"/admin/posters/{COMMUNE}.svg?via=https://evil.example")).status == 404


async def test_with_telegram_connected_the_poster_shows_both_links(settings, aiohttp_client, sessions, tg) -> None:
    public = telegram_settings(settings, tg, public_base_url="http://caunoi.daklak.example")
    client = await aiohttp_client(create_app(public, clock=lambda: NOW))
    await add_staff(sessions, "boss", StaffRole.admin)
    boss = await sign_in(client, "boss")
    html = await boss.page(f"/admin/posters/{COMMUNE}")
    assert f"https://t.me/{BOT_USERNAME}?start=area_{COMMUNE}" in html
    assert f"http://caunoi.daklak.example/chat?start=area_{COMMUNE}" in html
    qr = await boss.get(f"/admin/posters/{COMMUNE}.svg")
    assert qr.status == 200 and f"t.me/{BOT_USERNAME}" in await qr.text()
