"""An officer's chat link: made from the web chat it ends as a staff session does (a browser may be a
shared office PC); any link ends with /unlink, typed on any channel, or from the dashboard's Staff
screen; every end is in the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import create_app
from handlers.engine import utc_now
from storage import staff as staff_repo
from storage.models import AuditEntry, Staff, StaffRole
from tests.conftest import telegram_settings
from tests.dashboard import add_staff, sign_in
from tests.drivers import TelegramDriver, WebChatDriver, joined

OFFICER = "canbo.eakao"
EA_KAO = "24169"
NOT_LINKED = "Lệnh này dành cho cán bộ đã liên kết"


class Clock:
    """The app's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def link_code(sessions, clock: Clock, username: str = OFFICER) -> str:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        staff = (await session.exec(select(Staff).where(Staff.username == username))).first()
        if staff is None:
            staff = await staff_repo.create_staff(session, username, "commune", EA_KAO, "mật-khẩu-dài-1234", clock.now)
        code = await staff_repo.new_link_code(session, staff, clock.now)
        await session.commit()
    return code


async def officer(sessions, username: str = OFFICER) -> Staff:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return (await session.exec(select(Staff).where(Staff.username == username))).one()


async def unlinks(sessions) -> list[dict]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = (await session.exec(select(AuditEntry).where(AuditEntry.action == "staff.unlink")
                                   .order_by(col(AuditEntry.id)))).all()
    return [{"actor": row.actor, "object": row.object_id, **row.detail} for row in rows]


async def test_a_link_made_from_the_web_chat_ends_after_a_staff_session(settings, sessions, clock, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings, clock=clock))
    visitor = WebChatDriver(client)
    await visitor.send(f"/link {await link_code(sessions, clock)}")
    assert "Đã liên kết với tài khoản cán bộ canbo.eakao" in joined(visitor.last)
    assert f"tự hết hạn sau {int(settings.staff_session_hours)} giờ" in joined(visitor.last)
    assert "Phản ánh trong địa bàn" in joined(await visitor.send("/canbo"))

    linked_at = clock.now
    while clock.now + timedelta(minutes=90) < linked_at + timedelta(hours=settings.staff_session_hours):
        clock.now += timedelta(minutes=90)  # used every hour and a half: never idle for 2 hours
        assert "Phản ánh trong địa bàn" in joined(await visitor.send("/canbo"))
    clock.now = linked_at + timedelta(hours=settings.staff_session_hours) - timedelta(minutes=1)
    assert "Phản ánh trong địa bàn" in joined(await visitor.send("/canbo"))  # still within the session
    clock.now += timedelta(minutes=2)
    assert NOT_LINKED in joined(await visitor.send("/canbo"))  # a cookie left on an office PC is no officer
    assert NOT_LINKED in joined(await visitor.send("/thongbao"))
    staff = await officer(sessions)
    assert staff.chat_channel is None and staff.chat_user_id is None and staff.chat_linked_at is None
    assert await unlinks(sessions) == [{"actor": OFFICER, "object": OFFICER, "channel": "webchat", "reason": "expired"}]


async def test_a_web_chat_link_unused_for_2_hours_ends_as_an_idle_staff_session(settings, sessions, clock, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings, clock=clock))
    visitor = WebChatDriver(client)
    await visitor.send(f"/link {await link_code(sessions, clock)}")
    assert "hoặc sau 2 giờ không dùng" in joined(visitor.last)
    clock.now += timedelta(hours=1, minutes=59)
    assert "Phản ánh trong địa bàn" in joined(await visitor.send("/canbo"))  # used: idle time starts again
    clock.now += timedelta(hours=1, minutes=59)
    assert "Phản ánh trong địa bàn" in joined(await visitor.send("/canbo"))
    clock.now += timedelta(hours=2)
    assert NOT_LINKED in joined(await visitor.send("/canbo"))
    assert await unlinks(sessions) == [{"actor": OFFICER, "object": OFFICER, "channel": "webchat", "reason": "expired"}]


async def test_a_messenger_link_lasts_until_unlink_typed_on_the_phone(settings, sessions, clock, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg), clock=clock))
    phone = TelegramDriver(tg, user_id=5150)
    await phone.send(f"/link {await link_code(sessions, clock)}")
    assert "/unlink để hủy liên kết" in joined(phone.last)
    assert "tự hết hạn" not in joined(phone.last)
    clock.now += timedelta(days=30)  # the officer's own phone: no session to end
    assert "Phản ánh trong địa bàn" in joined(await phone.send("/canbo"))

    assert "Đã hủy liên kết với tài khoản cán bộ canbo.eakao" in joined(await phone.send("/unlink"))
    assert NOT_LINKED in joined(await phone.send("/canbo"))
    assert "chưa liên kết với tài khoản cán bộ nào" in joined(await phone.send("/huylienket"))
    assert await unlinks(sessions) == [{"actor": OFFICER, "object": OFFICER, "channel": "telegram", "reason": "chat"}]


async def test_an_admin_ends_a_chat_link_from_the_staff_screen(settings, sessions, clock, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings, clock=clock))
    visitor = WebChatDriver(client)
    await visitor.send(f"/link {await link_code(sessions, clock)}")
    await add_staff(sessions, "quantri", StaffRole.admin)
    admin = await sign_in(client, "quantri")
    page = await admin.page("/admin/staff")
    row = page[page.index(f"<td>{OFFICER}</td>"):]
    row = row[:row.index("</tr>")]
    assert "webchat · " in row and 'value="unlink"' in row
    assert 'value="unlink"' not in page[page.index("<td>quantri</td>"):][:400]  # nothing to end there

    response = await admin.post(f"/admin/staff/{OFFICER}", {"action": "unlink"})
    assert response.status == 303
    assert NOT_LINKED in joined(await visitor.send("/canbo"))
    assert (await officer(sessions)).chat_user_id is None
    assert await unlinks(sessions) == [{"actor": "quantri", "object": OFFICER, "channel": "webchat", "reason": "staff screen"}]
    assert (await admin.post(f"/admin/staff/{OFFICER}", {"action": "unlink"}, csrf=False)).status == 403


async def test_a_password_change_ends_a_web_chat_link_and_reminders_skip_an_ended_one(
    settings, sessions, clock, aiohttp_client,
) -> None:
    client = await aiohttp_client(create_app(settings, clock=clock))
    visitor = WebChatDriver(client)
    await visitor.send(f"/link {await link_code(sessions, clock)}")
    async with sessions() as session:
        assert [s.username for s in await staff_repo.linked_staff(session, clock.now, timedelta(hours=12))] == [OFFICER]
        assert await staff_repo.linked_staff(session, clock.now + timedelta(hours=13), timedelta(hours=12)) == []
        staff = (await session.exec(select(Staff).where(Staff.username == OFFICER))).one()
        await staff_repo.set_password(session, staff, "một-mật-khẩu-mới-dài-99")
        await session.commit()
    assert NOT_LINKED in joined(await visitor.send("/canbo"))
