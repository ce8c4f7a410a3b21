"""Statistics and a commune poster in real headless Chromium: the chart and its numbers render, the QR code loads."""

from __future__ import annotations

import pytest

from storage.models import StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.dashboard import COMMUNE, PASSWORD, add_staff
from tests.test_report import NOW, seed


@pytest.fixture
async def server(settings):  # type: ignore[no-untyped-def]
    public = settings.model_copy(update={"public_base_url": "http://caunoi.daklak.example"})
    async for live in serve(public, clock=lambda: NOW):
        yield live


async def test_statistics_and_a_poster_in_chromium(server, page, sessions) -> None:
    await seed(sessions)
    await add_staff(sessions, "lan", StaffRole.province)
    await sign_in_page(page, server, "lan", PASSWORD)
    await page.click("nav >> text=Thống kê")
    await page.fill("input[name=from]", "2026-02-08")
    await page.fill("input[name=to]", "2026-03-10")
    await page.click("form.filters button.primary")
    await page.wait_for_url("**/admin/stats?from=2026-02-08*")
    assert await page.text_content("#total-received") == "4"
    weekly = page.locator("svg[aria-labelledby='weekly-t weekly-d']")
    assert await weekly.is_visible()
    box = await weekly.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 80
    assert await weekly.locator("rect[fill='#0072b2']").count() >= 1  # a bar of the first kind
    assert "Phản ánh theo tuần và theo loại" in await weekly.locator("title").first.text_content()
    assert await page.locator("#table-weekly tbody tr").count() >= 5
    assert await page.text_content("#table-ratings tbody tr:nth-child(5) td:last-child") == "1"  # 5 stars
    await screenshot(page, "stats")

    await page.click("nav >> text=Áp phích")
    await page.click(f"a[href='/admin/posters/{COMMUNE}']")
    await page.wait_for_url(f"**/admin/posters/{COMMUNE}")
    assert "xã Hòa Phú" in await page.text_content("h1.poster-title")
    qr = page.locator("img[alt='Mã QR mở Cầu Nối trên trình duyệt']")
    await qr.wait_for()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    assert f"chat?start=area_{COMMUNE}" in await page.text_content(".poster-link")
    await page.emulate_media(media="print")
    assert not await page.locator("header.top").is_visible()
    await screenshot(page, "poster")
