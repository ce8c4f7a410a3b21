"""The poll results screen in real Chromium: charts and tables by commune, household status and
channel, the CSV link; and the new-poll form's live recipient count."""

from __future__ import annotations

from datetime import timedelta

from handlers import polls as poll_flow
from storage import polls as poll_repo
from storage.models import Citizen, Poll, StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.dashboard import COMMUNE, OTHER_COMMUNE, PASSWORD, add_staff
from tests.test_polls import T0, Clock

QUESTION = "Bà con muốn UBND xã họp bình xét hộ nghèo năm nay vào buổi nào?"
CHOICES = [{"vi": "Sáng Chủ nhật", "en": "Sunday morning"}, {"vi": "Tối thứ Bảy", "en": "Saturday evening"},
           {"vi": "Tối ngày thường", "en": "A weekday evening"}]
ANSWERS = [
    # commune, household, channel, choice
    *[(COMMUNE, "poor", "telegram", 0)] * 6, *[(COMMUNE, "near_poor", "zalo_bot", 1)] * 3, (COMMUNE, "poor", "zalo_oa", 2),
    *[(OTHER_COMMUNE, "poor", "telegram", 1)] * 4, *[(OTHER_COMMUNE, "escaped", "webchat", 2)] * 2, (OTHER_COMMUNE, "unknown", "telegram", 0),
]


async def seed(sessions, services) -> int:  # type: ignore[no-untyped-def]
    """A province-wide poll, opened, with 17 answers from two communes on four channels."""
    async with sessions() as session:
        poll = await poll_repo.create_poll(
            session, texts={"vi": QUESTION}, choices=CHOICES, free_text=False, target={"areas": ["66"]},
            opens_at=T0, closes_at=T0 + timedelta(days=7), now=T0, author="lan",
        )
        people = [Citizen(channel=channel, channel_user_id=str(7700 + n), area_code=area, household_status=status,
                          locale="vi", subscribed=True, consent_at=T0, created_at=T0, last_seen_at=T0)
                  for n, (area, status, channel, _choice) in enumerate(ANSWERS)]
        session.add_all(people)
        await session.flush()
        await poll_flow.open_due(session, services, T0)
        for citizen, (*_where, choice) in zip(people, ANSWERS, strict=True):
            await poll_repo.record_answer(session, poll, citizen, now=T0, choice=choice)
        await session.commit()
        return poll.id  # type: ignore[return-value]


async def test_the_results_screen_shows_charts_and_tables_by_commune_status_and_channel(settings, sessions, services, page) -> None:  # type: ignore[no-untyped-def]
    poll_id = await seed(sessions, services)
    await add_staff(sessions, "lan", StaffRole.province)
    async for server in serve(settings, clock=Clock(T0 + timedelta(hours=2))):
        await sign_in_page(page, server, "lan", PASSWORD)
        await page.click('ul.menu a[href="/admin/polls"]')
        await page.click(f'a[href="/admin/polls/{poll_id}"] >> nth=1')
        await page.wait_for_url(f"**/admin/polls/{poll_id}")
        assert QUESTION in await page.text_content("section.message")
        assert await page.locator("figure.chart-frame svg").count() == 4
        overall = await page.text_content("#table-overall")
        assert "Sáng Chủ nhật" in overall and "41%" in overall  # 7 of 17
        first = page.locator("#table-area_code tbody tr").first.locator("td")
        assert await first.all_text_contents() == ["xã Hòa Phú", "6", "3", "1", "10"]  # the commune with most answers first
        channels = await page.text_content("#table-channel")
        assert all(name in channels for name in ("Telegram", "Zalo", "Zalo OA", "Trò chuyện trên web"))
        statuses = await page.text_content("#table-household_status")
        assert "Hộ cận nghèo" in statuses and "Chưa cho biết diện hộ" in statuses
        assert await page.get_attribute("a[download]", "href") == f"/admin/polls/{poll_id}/results.csv"
        await screenshot(page, "poll-results")


async def test_the_new_poll_form_counts_recipients_live(settings, sessions, services, page) -> None:  # type: ignore[no-untyped-def]
    await seed(sessions, services)
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    async for server in serve(settings, clock=Clock(T0)):
        await sign_in_page(page, server, "hoaphu", PASSWORD)
        await page.goto(server.url("/admin/polls/new"))
        count = page.locator("#recipients")
        await count.filter(has_text="Số người nhận: 10 ").wait_for()
        await page.check("input[name=status][value=near_poor]")
        await count.filter(has_text="Số người nhận: 3 ").wait_for()
        await page.fill("textarea[name=text_vi]", "Thôn mình cần làm gì trước: đường, nước sạch hay lớp học nghề?")
        await page.check("input[name=kind][value=free]")
        await page.fill("input[name=close_day]", "2026-03-20")
        await page.fill("input[name=close_time]", "17:00")
        await page.click("button[name=action][value=create]")
        await page.wait_for_url("**/admin/polls/*?created=1")
        assert "Câu hỏi đang mở" in await page.text_content("[role=status]")
    async with sessions() as session:
        poll = await session.get(Poll, 2)
    assert poll is not None and poll.free_text and poll.target["areas"] == [COMMUNE] and poll.target["statuses"] == ["near_poor"]
