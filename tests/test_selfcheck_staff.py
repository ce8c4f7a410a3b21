"""What staff see of the household self-check: review requests in the inbox (filter, export) and
in the commune officer's /canbo, counts in Statistics without names, and the indicator questions
confirmed in the Content screen."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bot.app import create_app
from handlers.engine import Engine, utc_now
from storage import staff as staff_repo
from storage.models import AuditEntry, SelfCheckQuestionRow, StaffRole
from tests.channel import InMemoryChannel
from tests.dashboard import COMMUNE, OTHER_COMMUNE, add_staff, sign_in

CODE = re.compile(r"PA-[A-Z0-9]{6}")


@pytest.fixture
def signed_in(settings, aiohttp_client, sessions):  # type: ignore[no-untyped-def]
    async def make(username: str, role: StaffRole, area: str | None = None):  # type: ignore[no-untyped-def]
        await add_staff(sessions, username, role, area)
        return await sign_in(await aiohttp_client(create_app(settings)), username)
    return make


async def request_review(engine: Engine, user: str, commune: str, income: str) -> str:
    """A household runs the self-check and sends the request; the tracking code."""
    citizen = InMemoryChannel(engine, user_id=user)
    for typed in ("/tukiemtra", commune, "3", "ca nha mot thang", income, "de nghi", "gui"):
        await citizen.send(typed)
    found = CODE.search(citizen.text())
    assert found, citizen.text()
    return found.group()


async def only_check(engine: Engine, user: str, commune: str, income: str) -> None:
    citizen = InMemoryChannel(engine, user_id=user)
    for typed in ("/tukiemtra", commune, "3", "ca nha mot thang", income, "khong"):
        await citizen.send(typed)


async def test_requests_per_commune_in_the_inbox_and_the_export(engine, signed_in) -> None:
    near = await request_review(engine, "h1", "hoa phu", "3 triệu")  # xã Hòa Phú (COMMUNE)
    await request_review(engine, "h2", "buon ma thuot", "2 triệu")  # phường Buôn Ma Thuột
    other = InMemoryChannel(engine, user_id="h3")
    await other.send("/phananh")  # an ordinary report is not a review request
    officer = await signed_in("hoaphu", StaffRole.commune, COMMUNE)
    page = await officer.page("/admin/inbox?status=all&selfcheck=1")
    assert near in page and "Review requests after a self-check" not in page  # the page is in Vietnamese
    assert "Yêu cầu rà soát sau khi tự kiểm tra" in page
    assert set(CODE.findall(page)) == {near} and "3 người, khoảng 1.000.000 đ mỗi người mỗi tháng" in page
    assert "Dưới chuẩn nghèo (chưa hỏi chỉ số)" in page
    export = await officer.get("/admin/inbox/export?format=csv&status=all&selfcheck=1")
    text = (await export.read()).decode("utf-8-sig")
    assert set(CODE.findall(text)) == {near} and "1.000.000 đ/người/tháng" in text
    province = await signed_in("tinh", StaffRole.province)
    everything = await province.page(f"/admin/inbox?status=all&selfcheck=1&area={OTHER_COMMUNE}")
    assert near not in everything and len(set(CODE.findall(everything))) == 1


async def test_statistics_count_self_checks_by_commune_and_result_without_names(engine, signed_in) -> None:
    await only_check(engine, "h1", "hoa phu", "3 triệu")
    await only_check(engine, "h2", "hoa phu", "30 triệu")
    await request_review(engine, "h3", "hoa phu", "2 triệu")
    admin = await signed_in("tinh", StaffRole.province)
    page = await admin.page("/admin/stats")
    table = page.split('id="table-selfchecks"')[1].split("</table>")[0]
    assert "xã Hòa Phú" in table and "Nguyễn Văn A" not in table
    cells = re.findall(r">(\d+)<", table.split("xã Hòa Phú")[1].split("</tr>")[0])
    # under the line (indicators not asked) 2, above 1, all 3, one request
    assert cells[2] == "2" and cells[4] == "1" and cells[5] == "3" and "1</a>" in table


async def test_the_commune_officer_sees_the_request_in_canbo(engine, sessions) -> None:
    code = await request_review(engine, "h1", "hoa phu", "3 triệu")
    async with sessions() as session:
        staff = await staff_repo.create_staff(session, "canbo", "commune", COMMUNE, "mật-khẩu-dài-1234", utc_now())
        link = await staff_repo.new_link_code(session, staff, utc_now())
        await session.commit()
    await request_review(engine, "h9", "buon ma thuot", "2 triệu")  # another commune's request
    officer = InMemoryChannel(engine, user_id="officer")
    await officer.send(f"/link {link}")
    await officer.send("/canbo")
    await officer.press("🆕")
    assert [label.split(" · ")[0] for label in officer.labels()] == [code]
    await officer.press(code)
    shown = officer.text()
    assert code in shown and "Đề nghị rà soát hộ nghèo" in shown and "Số người trong hộ: 3" in shown
    assert "1.000.000 đ/người/tháng" in shown and "xã Hòa Phú" in shown


async def test_staff_confirm_a_question_and_the_bot_asks_it(engine, signed_in, sessions) -> None:
    editor = await signed_in("tinh", StaffRole.province)
    page = await editor.page("/admin/content/selfcheck")
    assert page.count('class="badge warn"') == 12 and "Bảo hiểm y tế" in page and "từ 6 tuổi trở lên?" in page
    response = await editor.post("/admin/content/selfcheck/health-insurance", {
        "action": "confirm", "vi_indicator": "Bảo hiểm y tế", "en_indicator": "Health insurance",
        "vi_question": "Trong nhà có ai từ 6 tuổi trở lên chưa có thẻ BHYT không?",
        "en_question": "Does anyone aged 6 or older have no health insurance card?", "deficit_if": "yes",
    })
    assert response.status == 303
    async with sessions() as session:
        row = await session.get(SelfCheckQuestionRow, "health-insurance")
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "selfcheck.confirm"))).all()
    assert row is not None and row.data["needs_review"] is False and row.edited_at is not None and len(audit) == 1
    citizen = InMemoryChannel(engine, user_id="h1")
    for typed in ("/tukiemtra", "nong thon", "3", "ca nha mot thang", "3 triệu"):
        await citizen.send(typed)
    assert "chưa có thẻ BHYT" in citizen.text() and "1/1" in citizen.text()
    await citizen.send("co")
    assert "thiếu hụt 1 chỉ số (Bảo hiểm y tế)" in citizen.text()
    commune = await signed_in("canboxa", StaffRole.commune, COMMUNE)
    assert (await commune.get("/admin/content/selfcheck")).status == 403


async def test_an_invalid_edit_is_refused(signed_in, sessions) -> None:
    editor = await signed_in("tinh", StaffRole.province)
    response = await editor.post("/admin/content/selfcheck/toilet", {"action": "confirm", "vi_question": "ngắn"})
    assert response.status == 303 and "error=invalid" in response.headers["Location"]
    async with sessions() as session:
        row = await session.get(SelfCheckQuestionRow, "toilet")
    assert row is not None and row.data["needs_review"] is True

