"""Feedback and complaints end to end through the fake Telegram server: submit with photos and a
location, an officer links, sees it and replies, the citizen receives the reply and rates it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import create_app
from handlers.engine import utc_now
from storage import staff as staff_repo
from storage.models import Conversation, Ticket, TicketAttachment, TicketEvent
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver, joined

CODE = re.compile(r"PA-[A-Z0-9]{6}")
JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200


@pytest.fixture
async def bot(settings, tg, aiohttp_client):  # type: ignore[no-untyped-def]
    """The whole app on the fake Telegram server."""
    return await aiohttp_client(create_app(telegram_settings(settings, tg)))


async def make_officer(sessions, username: str, role: str, area: str | None) -> str:
    """A staff account and a fresh link code for it."""
    async with sessions() as session:
        staff = await staff_repo.create_staff(session, username, role, area, "mật-khẩu-dài-1234", utc_now())
        code = await staff_repo.new_link_code(session, staff, utc_now())
        await session.commit()
    return code


async def submit_complaint(citizen: TelegramDriver, *, anonymous: bool = False) -> str:
    """Walk through the whole flow and return the tracking code."""
    await citizen.send("/phananh")
    assert "Bà con muốn gửi gì" in citizen.last[-1].text
    await citizen.press("Khiếu nại")
    await citizen.press("Rà soát")
    await citizen.send("Nhà tôi thiếu 3 chỉ số nhưng không được đưa vào danh sách hộ nghèo năm nay.")
    await citizen.send_photo(JPEG)
    await citizen.send_photo(JPEG + b"2")
    assert "đã nhận 2 ảnh" in citizen.last[-1].text
    await citizen.press("Xong")
    await citizen.send_location(12.6675, 108.0383)
    assert "xã/phường nào" in citizen.last[-1].text
    await citizen.send("ea kao")
    await citizen.press("Gửi ẩn danh" if anonymous else "Ghi tên tôi")
    summary = citizen.last[-1].text
    assert "Ảnh: 2" in summary and "phường Ea Kao" in summary and "12.66750, 108.03830" in summary
    await citizen.press("Gửi")
    match = CODE.search(joined(citizen.last))
    assert match, joined(citizen.last)
    return match.group()


async def test_complaint_with_photos_and_location_then_officer_reply_and_rating(bot, tg, sessions, settings) -> None:
    citizen = TelegramDriver(tg, user_id=5001)
    code = await submit_complaint(citizen)
    assert "Dự kiến trả lời trước" in citizen.last[-1].text

    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
        files = (await session.exec(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id))).all()
    assert (ticket.kind, ticket.area_code, ticket.status, ticket.anonymous) == ("complaint", "24169", "new", False)
    assert ticket.reporter_name == "Test" and (ticket.latitude, ticket.longitude) == (12.6675, 108.0383)
    assert len(files) == 2 and all((settings.data_dir / f.path).read_bytes().startswith(b"\xff\xd8") for f in files)
    assert ticket.due_at - ticket.created_at >= timedelta(days=10)

    officer = TelegramDriver(tg, user_id=7001)
    link = await make_officer(sessions, "canbo.eakao", "commune", "24169")
    await officer.send(f"/link {link}")
    assert "canbo.eakao" in officer.last[-1].text
    await officer.send("/canbo")
    assert "1 mới" in officer.last[-1].text
    await officer.press("Mới")
    await officer.press(code)
    assert "Test" in officer.last[-1].text and "Tệp: 2" in officer.last[-1].text
    await officer.press("Trả lời")
    await officer.send("UBND phường sẽ rà soát lại hộ của bà con trong tuần này.")
    assert "Đã gửi trả lời" in officer.last[-1].text

    delivered = await tg.wait_for(lambda s: str(s.chat_id) == "5001" and "UBND phường sẽ rà soát" in (s.text or ""), timeout=10)
    assert code in delivered.text and "Trả lời cho phản ánh" in delivered.text

    citizen.last = [citizen.last[-1]]
    await citizen.send(f"/tracuu {code.lower()}")
    assert "đã trả lời" in citizen.last[-1].text and "UBND phường sẽ rà soát" in citizen.last[-1].text
    await citizen.press("Đánh giá")
    await citizen.press("⭐⭐⭐⭐⭐")
    await citizen.press("Đã giải quyết")
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
    assert (ticket.rating, ticket.resolved, ticket.status) == (5, True, "answered")


async def test_anonymous_complaint_hides_the_name_from_the_commune_officer(bot, tg, sessions) -> None:
    code = await submit_complaint(TelegramDriver(tg, user_id=5002), anonymous=True)
    officer = TelegramDriver(tg, user_id=7002)
    await officer.send(f"/link {await make_officer(sessions, 'canbo.eakao2', 'commune', '24169')}")
    await officer.send("/canbo")
    await officer.press("Mới")
    await officer.press(code)
    assert "Ẩn danh" in officer.last[-1].text and "Test" not in officer.last[-1].text
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
    assert ticket.anonymous and ticket.reporter_name == "Test"


async def test_an_officer_of_another_commune_cannot_open_the_ticket(bot, tg, sessions) -> None:
    code = await submit_complaint(TelegramDriver(tg, user_id=5003))
    officer = TelegramDriver(tg, user_id=7003)
    await officer.send(f"/link {await make_officer(sessions, 'canbo.hoaphu', 'commune', '24175')}")
    await officer.send("/canbo")
    assert "0 mới" in officer.last[-1].text
    await officer.act(f"of:open:{code}")
    assert "hết hạn" in officer.last[-1].text


async def test_daily_limit_is_polite(settings, tg, sessions, aiohttp_client) -> None:
    # Five whole reports in a few seconds: faster than any person, so flood control is off here.
    await aiohttp_client(create_app(telegram_settings(settings, tg, flood_burst=0)))
    citizen = TelegramDriver(tg, user_id=5004)
    for _ in range(5):
        await submit_complaint(citizen)
    await citizen.send("/phananh")
    assert "đã gửi 5 phản ánh hôm nay" in citizen.last[-1].text


@pytest.mark.parametrize("steps", range(8))
async def test_cancel_at_each_step_leaves_nothing(bot, tg, sessions, steps: int) -> None:
    citizen = TelegramDriver(tg, user_id=5100 + steps)
    script = [
        lambda: citizen.send("/phananh"),
        lambda: citizen.press("Góp ý"),
        lambda: citizen.press("Vay vốn"),
        lambda: citizen.send("Cán bộ ngân hàng hướng dẫn rất tận tình."),
        lambda: citizen.press("Bỏ qua"),
        lambda: citizen.press("Bỏ qua"),
        lambda: citizen.send("Hòa Phú"),
        lambda: citizen.press("Gửi ẩn danh"),
    ]
    for step in script[: steps + 1]:
        await step()
    await citizen.send("/huy")
    assert "đã dừng" in citizen.last[-1].text
    async with sessions() as session:
        assert (await session.exec(select(Ticket))).all() == []
        conversation = (await session.exec(select(Conversation))).one()
    assert conversation.state == "idle" and "draft" not in conversation.data


async def test_voice_message_is_accepted_as_the_message(bot, tg, sessions, settings) -> None:
    citizen = TelegramDriver(tg, user_id=5200)
    await citizen.send("/phananh")
    await citizen.press("Báo sự việc")
    await citizen.press("Khác")
    await citizen.send_voice(b"OggS" + b"\x00" * 300)
    assert "ảnh" in citizen.last[-1].text
    await citizen.press("Bỏ qua")
    await citizen.press("Bỏ qua")
    await citizen.send("Tân An")
    await citizen.press("Gửi ẩn danh")
    await citizen.press("Gửi")
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket))).one()
        [voice] = (await session.exec(select(TicketAttachment))).all()
        events = (await session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))).all()
    assert voice.kind == "voice" and (settings.data_dir / voice.path).exists()
    assert ticket.body == "(tin nhắn thoại)" and events[0].kind == "created"


async def test_skipping_photos_and_location_by_typing_works_like_pressing(bot, tg, sessions) -> None:
    citizen = TelegramDriver(tg, user_id=5201)
    await citizen.send("/phananh")
    await citizen.press("Báo sự việc")
    await citizen.press("Khác")
    await citizen.send("Đèn đường ở thôn 2 bị hỏng cả tháng nay.")
    await citizen.send("bo qua")  # photos
    await citizen.send("bo qua")  # location
    assert "xã" in citizen.last[-1].text.lower()


async def test_a_half_written_report_survives_a_restart(settings, tg, aiohttp_client, sessions) -> None:
    citizen = TelegramDriver(tg, user_id=5300)
    first = await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await citizen.send("/phananh")
    await citizen.press("Kiến nghị")
    await citizen.press("Vay vốn")
    await first.close()
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    await citizen.send("Đề nghị tăng mức cho vay hộ cận nghèo.")
    assert "ảnh" in citizen.last[-1].text


async def test_an_admin_sees_an_anonymous_reporter_and_the_view_is_audit_logged(bot, tg, sessions) -> None:
    from storage import audit

    code = await submit_complaint(TelegramDriver(tg, user_id=5400), anonymous=True)
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
    assert ticket.anonymous and ticket.reporter_name == "Test"
    admin = TelegramDriver(tg, user_id=7400)
    await admin.send(f"/link {await make_officer(sessions, 'quantri', 'admin', None)}")
    await admin.act(f"of:open:{code}")
    assert "Test" in admin.last[-1].text
    async with sessions() as session:
        views = await audit.entries(session, action="identity.view")
        links = await audit.entries(session, action="staff.link")
    assert [(v.actor, v.object_id) for v in views] == [("quantri", code)]
    assert links[0].actor == "quantri"


async def test_files_that_cannot_be_kept_get_a_clear_reason(settings, tg, aiohttp_client, sessions) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg, media_max_bytes=2000)))
    citizen = TelegramDriver(tg, user_id=5500)
    await citizen.send("/phananh")
    await citizen.press("Góp ý")
    await citizen.press("Khác")
    await citizen.send("Đường vào thôn bị sạt lở.")
    await citizen.send_photo(b"\xff\xd8" + b"x" * 5000)
    assert "lớn quá" in joined(citizen.last)
    sticker = tg.make_message_update(5500, "x")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "CAACAgIAAx", "file_unique_id": "AgAD", "width": 512, "height": 512,
                                     "is_animated": False, "is_video": False, "type": "regular", "file_size": 100}
    start = tg.mark()
    tg.push_update(sticker)
    reply = await tg.wait_for(lambda s: str(s.chat_id) == "5500" and "chỉ nhận ảnh" in (s.text or ""), start=start)
    assert "chưa được lưu" in reply.text
    assert list((settings.data_dir / "media").rglob("*.*")) == []


async def test_citizen_adds_to_an_open_report_and_hears_of_a_status_change(bot, tg, sessions) -> None:
    citizen = TelegramDriver(tg, user_id=5600)
    code = await submit_complaint(citizen)
    await citizen.send(f"/tracuu {code}")
    await citizen.press("Bổ sung")
    await citizen.send("Tôi bổ sung: hộ tôi có 2 người phụ thuộc.")
    assert f"đã bổ sung vào {code}" in citizen.last[-1].text
    officer = TelegramDriver(tg, user_id=7600)
    await officer.send(f"/link {await make_officer(sessions, 'canbo.eakao6', 'commune', '24169')}")
    await officer.act(f"of:open:{code}")
    assert "hộ tôi có 2 người phụ thuộc" in officer.last[-1].text
    await officer.press("Đổi trạng thái")
    await officer.press("đang xử lý")
    notice = await tg.wait_for(lambda s: str(s.chat_id) == "5600" and "đang xử lý" in (s.text or ""), timeout=10)
    assert code in notice.text
    await officer.act(f"of:status:{code}")
    await officer.press("không tiếp nhận")
    await officer.send("Nội dung đã được giải quyết ở phản ánh khác.")
    rejected = await tg.wait_for(lambda s: str(s.chat_id) == "5600" and "không tiếp nhận" in (s.text or ""), timeout=10)
    assert "giải quyết ở phản ánh khác" in rejected.text
    async with sessions() as session:
        ticket = (await session.exec(select(Ticket).where(Ticket.code == code))).one()
    assert ticket.status == "rejected" and ticket.reject_reason == "Nội dung đã được giải quyết ở phản ánh khác."
