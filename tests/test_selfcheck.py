"""The household self-check as people use it: typed on every channel, the line of the day with its
source, indicator questions only once staff confirmed them, counts without identity, and the
request to the commune with its ticket."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.features import build_router
from handlers.engine import Engine
from storage.models import Citizen, Conversation, SelfCheckCount, SelfCheckQuestionRow, SelfCheckRequest, Ticket
from tests.channel import InMemoryChannel
from tests.drivers import joined

CODE = re.compile(r"PA-[A-Z0-9]{6}")


def at(engine: Engine, when: datetime) -> InMemoryChannel:
    """A citizen talking to the engine with the clock fixed at `when`."""
    return InMemoryChannel(Engine(engine.sessions, build_router(), engine.services, clock=lambda: when,
                                  conversation_ttl=timedelta(hours=72)))


JUNE_2026 = datetime(2026, 6, 15, 3, tzinfo=UTC)
DECEMBER_2026 = datetime(2026, 12, 6, 3, tzinfo=UTC)
MARCH_2027 = datetime(2027, 3, 1, 3, tzinfo=UTC)


async def all_rows(sessions, model):  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return (await session.exec(select(model))).all()


async def confirm_questions(sessions, *ids: str) -> None:  # type: ignore[no-untyped-def]
    """Staff confirm some indicator questions (as the dashboard's Content screen does)."""
    async with sessions() as session:
        for row in (await session.exec(select(SelfCheckQuestionRow).where(SelfCheckQuestionRow.id.in_(ids)))).all():  # type: ignore[attr-defined]
            row.data = {**row.data, "needs_review": False}
            session.add(row)
        await session.commit()


async def test_the_self_check_and_the_request_by_typing_only_on_every_channel(driver, sessions) -> None:
    await driver.send("/tukiemtra")
    assert "xã/phường nào" in joined(driver.last)
    await driver.send("ea kao")  # a phường: urban, no need to ask
    assert "mấy người" in joined(driver.last)
    await driver.send("4 người")
    await driver.send("ca nha mot thang")
    await driver.send("3tr2")
    result = joined(driver.last)
    assert "Kết quả tự kiểm tra" in result and "800.000 đ" in result
    assert "Nguồn: Nghị định" in result and "Chỉ kết quả rà soát của xã mới quyết định" in result
    assert "Đề nghị xã rà soát cho hộ tôi" in result or "Đề nghị xã rà soát cho hộ tôi" in str(driver.last[-1].buttons)
    await driver.send("de nghi ra soat")
    assert "phường Ea Kao" in joined(driver.last) and "đồng ý gửi" in joined(driver.last)
    await driver.send("gui")
    sent = joined(driver.last)
    code = CODE.search(sent)
    assert code and "Mẫu số 01" in sent and "căn cước" in sent
    [ticket] = await all_rows(sessions, Ticket)
    assert (ticket.code, ticket.kind, ticket.topic, ticket.area_code) == (code.group(0), "question", "review", "24169")
    assert "800.000 đ/người/tháng" in ticket.body and not ticket.anonymous
    [request] = await all_rows(sessions, SelfCheckRequest)
    assert request.ticket_id == ticket.id and request.outcome == "under_line"
    assert request.answers["people"] == 4 and request.answers["dong"] == 3_200_000 and request.answers["zone"] == "urban"
    [counted] = await all_rows(sessions, SelfCheckCount)
    assert (counted.area_code, counted.outcome, counted.count) == ("24169", "under_line", 1)


async def test_a_self_check_without_a_request_keeps_only_a_count(engine, sessions) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "3", "15 triệu một năm"):
        await citizen.send(typed)
    assert "416.666 đ" in citizen.text()
    await citizen.send("không")
    assert "không được lưu lại" in citizen.text()
    assert await all_rows(sessions, Ticket) == [] and await all_rows(sessions, SelfCheckRequest) == []
    [counted] = await all_rows(sessions, SelfCheckCount)
    assert (str(counted.day), counted.area_code, counted.outcome, counted.count) == ("2026-06-15", "", "under_line", 1)
    [conversation] = await all_rows(sessions, Conversation)
    assert conversation.state == "idle" and "sc" not in conversation.data
    [person] = await all_rows(sessions, Citizen)
    assert person.consent_at is None and person.area_code is None  # run without consent; nothing about them kept


async def test_before_2027_the_line_of_decree_07_and_its_average_band(engine) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "2", "cả nhà mỗi tháng 4 triệu"):
        await citizen.send(typed)
    text = citizen.text()
    assert "1.500.000 đ mỗi người mỗi tháng ở nông thôn (xã)" in text and "đến hết 31/12/2026" in text
    assert "mức sống trung bình" in text and "2.250.000 đ" in text
    assert "Nguồn: Nghị định 07/2021/NĐ-CP (27/01/2021)" in text
    assert "2.200.000" not in text  # not December: the next standard is not mentioned


async def test_the_line_exactly_counts_as_under_it(engine) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "thanh thi", "1", "2.000.000đ"):
        await citizen.send(typed)
    await citizen.press("Cả nhà, một tháng")
    assert "bằng hoặc thấp hơn mức này" in citizen.text() and "2.000.000 đ mỗi người mỗi tháng ở thành thị" in citizen.text()


async def test_from_2027_the_line_of_decree_351_without_a_band(engine) -> None:
    citizen = at(engine, MARCH_2027)
    for typed in ("/tukiemtra", "thanh pho", "mỗi người 2tr9 một tháng"):
        await citizen.send(typed)
    text = citizen.text()
    assert "2.800.000 đ mỗi người mỗi tháng ở thành thị" in text and "Nghị định 351/2025/NĐ-CP" in text
    assert "không thuộc diện nghèo hay cận nghèo" in text and "mức sống trung bình" not in text
    assert "07/2021" not in text


async def test_in_december_both_lines_are_given(engine) -> None:
    citizen = at(engine, DECEMBER_2026)
    await citizen.send("nhà tôi ở nông thôn, thu nhập mỗi người 1tr2 một tháng thì có được xét hộ nghèo không?")
    text = citizen.text()
    assert "1.200.000 đ" in text and "1.500.000 đ" in text and "Từ ngày 01/01/2027" in text and "2.200.000 đ" in text
    assert text.count("Nguồn:") == 2


async def test_questions_under_review_are_not_asked(engine) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "4", "ca nha mot thang", "2 triệu"):
        await citizen.send(typed)
    assert "Kết quả tự kiểm tra" in citizen.text() and "Trong nhà có" not in citizen.text()
    assert "đang được cán bộ kiểm tra lại" in citizen.text() and "việc làm, y tế, giáo dục" in citizen.text()


async def test_confirmed_questions_are_asked_and_name_what_the_household_lacks(engine, sessions) -> None:
    await confirm_questions(sessions, "health-insurance", "toilet", "water-source")
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "4", "ca nha mot thang", "2 triệu"):
        await citizen.send(typed)
    assert "1/3: Trong nhà có ai từ 6 tuổi" in citizen.text() and "bảo hiểm y tế" in citizen.text()
    await citizen.send("có")
    assert "2/3:" in citizen.text()
    await citizen.send("không có")
    await citizen.send("3")  # by its number: "Không biết"
    text = citizen.text()
    assert "thiếu hụt 1 chỉ số (Bảo hiểm y tế)" in text and "hộ cận nghèo" in text
    await citizen.send("/tukiemtra")
    for typed in ("nong thon", "4", "ca nha mot thang", "2 triệu", "co", "co", "co"):
        await citizen.send(typed)
    assert "thiếu hụt 3 chỉ số" in citizen.text() and "hộ có thể thuộc diện hộ nghèo" in citizen.text()


async def test_above_the_line_asks_no_indicator_question(engine, sessions) -> None:
    await confirm_questions(sessions, "health-insurance")
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "2", "ca nha mot thang", "10 triệu"):
        await citizen.send(typed)
    assert "Kết quả tự kiểm tra" in citizen.text() and "Trong nhà có" not in citizen.text() and "không thuộc diện nghèo hay cận nghèo" in citizen.text()


async def test_outside_the_review_season_the_commune_still_considers_requests(engine, sessions) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "hoa phu", "1", "mỗi người 900k một tháng", "đề nghị", "gửi"):
        await citizen.send(typed)
    assert "ngoài đợt này UBND xã vẫn xem xét" in citizen.text() and CODE.search(citizen.text())


async def test_a_request_without_a_known_commune_asks_which_one(engine, sessions) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "1", "mỗi người 900k một tháng", "đề nghị"):
        await citizen.send(typed)
    assert "Xã/phường nào sẽ rà soát" in citizen.text()
    await citizen.send("hoa phu")
    await citizen.send("đồng ý")
    [ticket] = await all_rows(sessions, Ticket)
    assert ticket.area_code == "24175"


async def test_an_answer_about_the_line_offers_the_self_check(citizen) -> None:
    await citizen.send("chuẩn nghèo hiện nay là bao nhiêu")
    assert any("Tự kiểm tra" in label for label in citizen.labels())
    await citizen.press("Tự kiểm tra")
    assert "xã/phường nào" in citizen.text()


async def test_the_menu_has_the_self_check(citizen) -> None:
    await citizen.send("/menu")
    await citizen.press("🧮 Tự kiểm tra hộ nghèo")
    assert "xã/phường nào" in citizen.text()


@pytest.mark.parametrize("typed", ["hủy", "/huy"])
async def test_cancel_keeps_nothing(engine, sessions, typed: str) -> None:
    citizen = at(engine, JUNE_2026)
    for text in ("/tukiemtra", "nong thon", "5", typed):
        await citizen.send(text)
    assert await all_rows(sessions, SelfCheckCount) == []


@pytest.mark.parametrize(("typed", "starts"), [
    ("nhà tôi ở nông thôn, thu nhập mỗi người 1tr2 một tháng thì có được xét hộ nghèo không?", True),
    ("nha 5 nguoi 4 trieu 1 thang co duoc xet can ngheo k", True),
    ("vay 100 triệu hộ nghèo lãi bao nhiêu", False),
    ("hộ nghèo được hỗ trợ 40 triệu xây nhà phải không", False),
    ("chuẩn nghèo 2 triệu à", False),
])
def test_only_an_income_question_starts_the_self_check(typed: str, starts: bool) -> None:
    from handlers.selfcheck import is_income_question

    assert is_income_question(typed) is starts


async def test_a_loan_question_naming_an_amount_is_answered_as_a_question(citizen) -> None:
    await citizen.send("vay 100 triệu hộ nghèo lãi suất bao nhiêu")
    assert "Kết quả tự kiểm tra" not in citizen.text() and "xã/phường nào" not in citizen.text()


async def test_a_known_commune_is_not_asked_again(engine, sessions) -> None:
    citizen = at(engine, JUNE_2026)
    for typed in ("/start", "dong y", "tieng viet", "hoa phu", "dung roi", "bo qua"):
        await citizen.send(typed)
    await citizen.send("/tukiemtra")
    assert "mấy người" in citizen.text() and "xã/phường nào" not in citizen.text()
    for typed in ("2", "ca nha mot thang", "2tr8"):
        await citizen.send(typed)
    assert "xã Hòa Phú – nông thôn (xã)" in citizen.text() and "1.400.000 đ" in citizen.text()


async def test_answers_i_do_not_know_are_said_not_counted(engine, sessions) -> None:
    await confirm_questions(sessions, "health-insurance", "toilet")
    citizen = at(engine, JUNE_2026)
    for typed in ("/tukiemtra", "nong thon", "4", "ca nha mot thang", "2 triệu", "khong biet", "co"):
        await citizen.send(typed)
    assert "Có 1 câu bà con trả lời “Không biết” nên chưa được tính." in citizen.text()
    assert "thiếu hụt 1 chỉ số (Nhà tiêu hợp vệ sinh)" in citizen.text()


async def test_a_commune_named_in_the_question_receives_the_request_without_being_asked(driver, sessions) -> None:
    """"…ở xã Hòa Phú…" in the first message: the result names it and the request goes there; a
    name that is no commune, where one is asked for, is said so (not a list of numbered choices)."""
    await driver.send("nha toi 4 nguoi o xa hoa phu, thu nhap ca nha 3 trieu 1 thang co duoc ho ngheo khong")
    assert "xã Hòa Phú" in joined(driver.last) and "750.000 đ" in joined(driver.last)
    await driver.send("de nghi")
    assert "đến xã Hòa Phú" in joined(driver.last) and "xã/phường nào" not in joined(driver.last)
    await driver.send("gui")
    [ticket] = await all_rows(sessions, Ticket)
    assert ticket.area_code == "24175"

    await driver.send("nha toi 4 nguoi, thu nhap ca nha 3 trieu 1 thang co duoc ho ngheo khong")
    await driver.send("nong thon")
    await driver.send("de nghi")
    assert "Xã/phường nào sẽ rà soát" in joined(driver.last)
    await driver.send("gui")
    assert "chưa tìm thấy xã/phường “gui”" in joined(driver.last)


async def test_choices_asked_again_twice_are_numbered_once(driver) -> None:
    await driver.send("nha toi 4 nguoi o xa hoa phu, thu nhap ca nha 3 trieu 1 thang co duoc ho ngheo khong")
    await driver.send("9")  # no such choice: asked again, numbered
    await driver.send("9")
    shown = joined(driver.last)
    assert "1. 1." not in shown and "1. 1." not in str(driver.last[-1].buttons), driver.last
