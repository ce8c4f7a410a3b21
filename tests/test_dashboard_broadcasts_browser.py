"""A commune officer sends a notice from the dashboard in real Chromium, watching the live count,
and the households it targets receive it through the fake Telegram server."""

from __future__ import annotations

from sqlmodel import select

from handlers.engine import utc_now
from storage import broadcasts
from storage.models import Broadcast, Citizen, StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, OTHER_COMMUNE, PASSWORD, add_staff

PEOPLE = [
    # chat id, commune, household, subscribed
    (7101, COMMUNE, "poor", True),
    (7102, COMMUNE, "poor", True),
    (7103, COMMUNE, "near_poor", True),
    (7104, COMMUNE, "poor", False),
    (7105, OTHER_COMMUNE, "poor", True),
]
TEXT = "Thứ Bảy này, 8 giờ sáng, UBND xã họp với các hộ nghèo tại nhà văn hóa thôn 3 về vay vốn chăn nuôi. Mong bà con đến đông đủ."


async def add_people(sessions) -> None:  # type: ignore[no-untyped-def]
    now = utc_now()
    async with sessions() as session:
        for chat, area, status, subscribed in PEOPLE:
            session.add(Citizen(channel="telegram", channel_user_id=str(chat), area_code=area, household_status=status,
                                locale="vi", subscribed=subscribed, consent_at=now, created_at=now, last_seen_at=now))
        await session.commit()


async def test_a_commune_officer_sends_a_notice_with_a_live_count_and_households_receive_it(
    settings, sessions, tg, page,  # type: ignore[no-untyped-def]
) -> None:
    await add_people(sessions)
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    async for server in serve(telegram_settings(settings, tg, quiet_hours="")):
        await sign_in_page(page, server, "hoaphu", PASSWORD)
        await page.click("ul.menu a[href=\"/admin/broadcasts\"]")
        await page.click("nav.tabs >> text=Soạn thông báo")
        count = page.locator("#recipients")
        await count.filter(has_text="Số người nhận: 3 ").wait_for()
        await page.fill("textarea[name=text_vi]", TEXT)
        await page.check("input[name=status][value=poor]")
        await count.filter(has_text="Số người nhận: 2 ").wait_for()
        await page.check("input[name=status][value=near_poor]")
        await count.filter(has_text="Số người nhận: 3 ").wait_for()
        await page.uncheck("input[name=status][value=near_poor]")
        await count.filter(has_text="Số người nhận: 2 ").wait_for()
        await screenshot(page, "broadcasts")
        await page.click("button[name=action][value=send]")
        await page.wait_for_url("**/admin/broadcasts/*?created=1")
        assert "Thông báo đang được gửi" in await page.text_content("[role=status]")

        for chat in (7101, 7102):
            [notice] = await tg.wait_for_messages(chat, 1, timeout=30)
            assert notice.text == TEXT
            assert ("🔕 Ngừng nhận thông báo", "menu:unsubscribe") in tg.buttons(notice)
        async with sessions() as session:
            broadcast = (await session.exec(select(Broadcast).where(Broadcast.author == "hoaphu"))).one()
        assert broadcast.target["areas"] == [COMMUNE] and broadcast.target["statuses"] == ["poor"]
        assert broadcast.recipients == 2
        for _ in range(50):  # the sender confirms each message just after Telegram accepted it
            async with sessions() as session:
                counts = await broadcasts.status_counts(session, broadcast.id)  # type: ignore[arg-type]
            if counts.get("sent") == 2:
                break
            await page.wait_for_timeout(100)
        assert counts == {"sent": 2}
        for chat in (7103, 7104, 7105):
            assert tg.messages_to(chat) == []
        await page.reload()
        assert await page.get_attribute("progress", "value") == "2"
        assert await page.get_attribute("progress", "max") == "2"
        await page.click("nav.tabs >> text=Danh sách thông báo")
        assert TEXT[:40] in await page.text_content("table.broadcasts")
