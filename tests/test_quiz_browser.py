"""Quiz contests in real headless Chromium: province staff create one through the form, then read
a running contest's leaderboard by commune (chart and table) and a commune's opted-in players."""

from __future__ import annotations

from datetime import timedelta

from storage.models import StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.dashboard import COMMUNE, OTHER_COMMUNE, PASSWORD, add_staff
from tests.test_quiz import add_contest, add_players, local_today


async def test_creating_a_contest_and_reading_its_leaderboard(settings, sessions, page) -> None:  # type: ignore[no-untyped-def]
    running = await add_contest(sessions, local_today() - timedelta(days=10), local_today() + timedelta(days=5),
                                "Đố vui Tháng cao điểm Vì người nghèo")
    await add_players(sessions, running)
    await add_staff(sessions, "tinh", StaffRole.province)
    async for server in serve(settings):
        await sign_in_page(page, server, "tinh", PASSWORD)
        await page.click("ul.menu >> text=Đố vui")
        await page.fill("input[name=title_vi]", "Đố vui năm sau")
        await page.fill("input[name=starts_on]", (local_today() + timedelta(days=400)).isoformat())
        await page.fill("input[name=ends_on]", (local_today() + timedelta(days=430)).isoformat())
        await page.click("button.primary")
        await page.wait_for_url("**/admin/quiz/contests/*")
        assert "Đố vui năm sau" in await page.text_content("h1")
        assert "Chưa có ai chơi xong" in await page.text_content("main")

        await page.goto(server.url(f"/admin/quiz/contests/{running}"))
        chart = page.locator("svg[aria-labelledby='share-t share-d']")
        assert await chart.is_visible()
        assert await chart.locator("rect").count() == 2
        rows = page.locator("#leaderboard tbody tr")
        assert await rows.count() == 2
        first = await rows.nth(0).text_content()
        assert "xã Hòa Phú" in first and "66,7%" in first and "3,5/5" in first
        assert "phường Buôn Ma Thuột" in await rows.nth(1).text_content()
        await screenshot(page, "quiz-contest")

        await page.click(f"#leaderboard a[href$='/communes/{COMMUNE}']")
        await page.wait_for_url(f"**/communes/{COMMUNE}")
        assert await page.text_content("#players tbody") == "Lan5/5"
        response = await page.goto(server.url(f"/admin/quiz/contests/{running}/communes/{OTHER_COMMUNE}"))
        assert response is not None and response.status == 200
