"""People who type instead of tapping, on every channel (Telegram, web chat, Zalo Bot API, Zalo OA with
numbered choices): each step reads typed text in its own terms, nothing typed inside a flow is filed
as an unanswered question, and nothing a person wrote or sent is lost."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from storage.db import SessionFactory
from storage.models import Citizen, Ticket, TicketAttachment, UnansweredQuestion
from tests.drivers import joined

CODE = re.compile(r"PA-[A-Z0-9]{6}")
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200
COMPLAINT = "xa khong cho nha toi vao danh sach can ngheo du nha toi thieu nuoc sach va nha o"
STORY = "nam nay xa ra soat bo sot nha toi, nha toi 5 nguoi khong co ruong, con nho di hoc ma khong duoc xet can ngheo"


async def rows(sessions: SessionFactory, model, *where):  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return (await session.exec(select(model).where(*where))).all()


async def unanswered(sessions: SessionFactory) -> list[str]:
    return [row.text for row in await rows(sessions, UnansweredQuestion)]


def seen(message) -> str:  # type: ignore[no-untyped-def]
    """A message's text and its buttons' labels, as the person sees them."""
    return "\n".join([message.text, *(label for label, _ in message.buttons)])


async def type_in_turn(driver, *texts: str) -> None:  # type: ignore[no-untyped-def]
    """Type each of `texts`, one message after the other's replies."""
    for text in texts:
        await driver.send(text)


async def finish_report(driver, *, photos_and_place: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Type the rest of a report: no more photos, no place, the commune, anonymous, send."""
    if photos_and_place:
        await type_in_turn(driver, "xong", "bo qua")
    assert "xã/phường nào" in driver.last[-1].text
    await type_in_turn(driver, "ea kao", "an danh", "gui")


def needs_photos(driver) -> None:  # type: ignore[no-untyped-def]
    """Skip the test for a driver that sends no photos (every driver sends them today)."""
    if not hasattr(driver, "send_photo"):
        pytest.skip("this driver sends no photos (the web chat's uploads are tested in test_webchat_media)")


async def the_ticket_and_its_files(sessions: SessionFactory) -> tuple[Ticket, list[TicketAttachment]]:
    [ticket] = await rows(sessions, Ticket)
    return ticket, await rows(sessions, TicketAttachment, TicketAttachment.ticket_id == ticket.id)


async def test_onboarding_by_typing_only_keeps_a_commune_typed_at_the_language_step(driver, sessions) -> None:
    await driver.send("/start")
    await driver.send("dạ có ạ")  # consent, typed
    assert "ngôn ngữ" in driver.last[-1].text
    await driver.send("ea kao")  # the commune, typed where the language is asked
    assert "Ea Kao" in driver.last[-1].text and "phải không" in driver.last[-1].text
    await driver.send("dung roi")
    assert "đã lưu: phường Ea Kao" in joined(driver.last)
    await driver.send("can ngheo")
    assert "đã cài đặt xong" in driver.last[-1].text
    [citizen] = await rows(sessions, Citizen)
    assert (citizen.area_code, citizen.household_status, citizen.locale) == ("24169", "near_poor", "vi")
    assert citizen.consent_at is not None and citizen.subscribed
    assert await unanswered(sessions) == []


async def test_onboarding_by_numbers_and_a_word_it_does_not_know_is_asked_again_not_filed(driver, sessions) -> None:
    await driver.send("/start")
    await driver.send("1")  # the first choice: I agree
    await driver.send("tieng viet")
    assert "xã/phường nào" in driver.last[-1].text
    await driver.send("ea kao")
    await driver.send("hmm de toi nghi")  # no choice, no status
    assert "gõ số" in driver.last[-1].text and "1. Hộ nghèo" in seen(driver.last[-1])
    await driver.send("cai gi vay")  # again: still at the step, never a FAQ miss
    assert "vẫn đang ở bước này" in driver.last[-1].text
    await driver.send("khong muon noi")
    assert "đã cài đặt xong" in driver.last[-1].text
    [citizen] = await rows(sessions, Citizen)
    assert citizen.household_status == "unknown" and citizen.area_code == "24169"
    assert await unanswered(sessions) == []


async def test_a_complaint_typed_at_the_subject_step_becomes_the_report(driver, sessions) -> None:
    await driver.send("/phananh")
    await driver.send("khieu nai")
    assert "chủ đề" in driver.last[-1].text
    await driver.send(COMPLAINT)
    assert "ảnh" in driver.last[-1].text  # on to photos, with the text as the message
    await driver.send("khong co")
    await driver.send("bo qua")
    assert "xã/phường nào" in driver.last[-1].text
    await driver.send("ea kao")
    await driver.send("an danh")
    summary = driver.last[-1].text
    assert "Khiếu nại" in summary and COMPLAINT in summary and "ẩn danh" in summary
    await driver.send("gui")
    code = CODE.search(joined(driver.last))
    assert code, joined(driver.last)
    [ticket] = await rows(sessions, Ticket)
    assert (ticket.kind, ticket.code, ticket.anonymous, ticket.area_code) == ("complaint", code.group(), True, "24169")
    assert ticket.body == COMPLAINT
    assert await unanswered(sessions) == []


async def test_a_story_told_without_a_command_is_offered_as_a_report_and_sent_by_typing(driver, sessions) -> None:
    shown = await driver.send(STORY)
    assert "chưa có câu trả lời" not in joined(shown)
    assert any("Gửi thành phản ánh" in label for label, _ in shown[-1].buttons)
    await driver.send("1")
    assert "ảnh" in driver.last[-1].text
    await driver.send("xong")
    await driver.send("khong")
    await driver.send("Cư Mgar")
    await driver.send("ghi ten")
    if "tên gì" in driver.last[-1].text:  # channels that give no name (web chat, Zalo OA) ask it
        await driver.send("Y Bih")
    assert "Người gửi:" in driver.last[-1].text and "Người gửi: —" not in driver.last[-1].text
    await driver.send("ok gui di")
    assert CODE.search(joined(driver.last)), joined(driver.last)
    [ticket] = await rows(sessions, Ticket)
    assert ticket.body == STORY and ticket.kind == "complaint"
    assert await unanswered(sessions) == []


async def test_a_photo_at_any_step_of_a_report_is_kept(driver, sessions) -> None:
    needs_photos(driver)
    await driver.send("/phananh")
    await driver.send_photo(JPEG)  # while the kind is asked
    assert "Đã giữ 1 ảnh" in joined(driver.last) and "gõ số" in driver.last[-1].text
    await driver.send("phan anh")
    await driver.send("Khác")
    await driver.send("Đường vào buôn bị sạt lở sau mưa lớn, xe máy không qua được.")
    assert "đã nhận 1 ảnh" in driver.last[-1].text
    await finish_report(driver)
    _ticket, files = await the_ticket_and_its_files(sessions)
    assert [file.kind for file in files] == ["photo"]


async def test_a_photo_sent_first_starts_a_report_with_it(driver, sessions) -> None:
    needs_photos(driver)
    await driver.send_photo(JPEG)
    assert "Đã giữ 1 ảnh" in joined(driver.last) and "muốn gửi gì" in driver.last[-1].text
    await driver.send("bao su co")
    await driver.send("Cây đổ chắn đường liên thôn từ sáng nay.")
    assert "đã nhận 1 ảnh" in driver.last[-1].text
    await finish_report(driver)
    ticket, files = await the_ticket_and_its_files(sessions)
    assert ticket.kind == "problem" and len(files) == 1


async def test_small_talk_gets_a_short_answer_and_is_never_filed(driver, sessions) -> None:
    for text in ("chào ad", "cam on nhieu", "ok", "không", "👍", "🙂🙂", "asdfgh"):
        shown = await driver.send(text)
        assert "chưa có câu trả lời" not in joined(shown), (text, joined(shown))
    assert await unanswered(sessions) == []


async def test_notices_on_and_off_without_the_command(driver, sessions) -> None:
    await type_in_turn(driver, "/start", "dong y", "tieng viet", "ea kao", "bo qua")  # onboarding, typed
    await driver.send("toi khong muon nhan thong bao nua")
    assert "không nhận thông báo nữa" in joined(driver.last)
    [citizen] = await rows(sessions, Citizen)
    assert not citizen.subscribed
    await driver.send("cho toi dang ky nhan thong bao cua xa")
    [citizen] = await rows(sessions, Citizen)
    assert citizen.subscribed


async def test_asking_for_a_person_reaches_the_commune_staff(driver, sessions) -> None:
    await driver.send("cho toi gap can bo")
    assert "cán bộ" in driver.last[-1].text
    await driver.send("Nhà tôi muốn hỏi bao giờ có kết quả rà soát năm nay?")
    await finish_report(driver, photos_and_place=False)  # a question asks no photos or place
    [ticket] = await rows(sessions, Ticket)
    assert ticket.kind == "question" and "kết quả rà soát" in ticket.body


async def test_a_cancel_word_inside_a_flow_leaves_it_with_a_word(driver, sessions) -> None:
    await driver.send("/phananh")
    await driver.send("huy")
    assert "chưa được gửi" in joined(driver.last)
    assert await rows(sessions, Ticket) == []


async def test_a_tracking_code_typed_alone_shows_the_report(driver, sessions) -> None:
    await driver.send("/phananh")
    await driver.send("hoi chinh sach")
    await driver.send("Khác")
    await driver.send("Xin hỏi khi nào xã họp bình xét hộ nghèo?")
    await finish_report(driver, photos_and_place=False)
    code = CODE.search(joined(driver.last)).group()  # type: ignore[union-attr]
    await driver.send(f"tra cuu {code.lower()}")
    assert f"Phản ánh {code}" in joined(driver.last) and "đã tiếp nhận" in joined(driver.last)


async def test_the_quiz_by_typing_an_answer_s_words_or_its_number(driver) -> None:
    await driver.send("/dovui")
    question = driver.last[-1]
    assert "Câu 1/" in question.text
    labels = [label.split(". ", 1)[-1] if label[:2].rstrip(".").isdigit() and ". " in label else label
              for label, _ in question.buttons]
    wordy = [label for label in labels if not label.replace(".", "").replace(",", "").isdigit() and not label.startswith("/")]
    # the words of a choice, typed in lower case (a choice that is a number, such as "12", is typed by its place;
    # one that is a command, such as "/menu" in the question about deleting one's data, runs that command when typed)
    await driver.send(wordy[0].lower() if wordy else "1")
    assert "Đúng rồi" in joined(driver.last) or "Chưa đúng" in joined(driver.last)
    assert "Câu 2/" in driver.last[-1].text
    await driver.send("2")
    assert "Đúng rồi" in joined(driver.last) or "Chưa đúng" in joined(driver.last)


async def test_a_poll_answered_by_typing_its_choice(driver, sessions, services) -> None:
    from datetime import timedelta

    from handlers.engine import utc_now
    from storage import polls as poll_repo
    from storage.models import PollAnswer

    await type_in_turn(driver, "/start", "co", "tieng viet", "ea kao", "ho ngheo")  # onboarding, typed
    now = utc_now()
    async with sessions() as session:
        poll = await poll_repo.create_poll(
            session, texts={"vi": "Họp bình xét vào buổi nào thì tiện cho bà con?", "en": "When?"},
            choices=[{"vi": "Buổi sáng", "en": "Morning"}, {"vi": "Buổi tối", "en": "Evening"}], free_text=False,
            target={"areas": ["66"]}, opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=7), now=now, author="lan",
        )
        poll.status, poll.opened_at = "open", now  # as the scheduler's opening tick leaves it
        await session.commit()
    await driver.send("/ykien")
    assert "buổi nào" in joined(driver.last)
    await driver.send("buoi toi")
    assert "Buổi tối" in joined(driver.last)
    [answer] = await rows(sessions, PollAnswer)
    assert answer.choice == 1


async def test_a_question_typed_at_the_greeting_is_answered_and_the_greeting_can_wait(driver, sessions) -> None:
    await driver.send("/start")
    shown = await driver.send("tuoi ca phe mua kho co duoc ho tro may bom khong")
    assert "không cần đăng ký" in joined(shown) and "/caidat" in joined(shown)
    [citizen] = await rows(sessions, Citizen)
    assert citizen.consent_at is None  # nothing agreed by asking
    assert await unanswered(sessions) == ["tuoi ca phe mua kho co duoc ho tro may bom khong"]  # a real question, noted
    await driver.send("chuan ngheo nong thon bao nhieu")
    assert "1.500.000" in joined(driver.last) or "2.200.000" in joined(driver.last)
