"""Real stories in real headless Chromium: commune staff open a nomination with two photos, write the
story, preview it as the bot shows it and publish it; the public page shows it with its photos
resized and without EXIF, and the nominator is told on (fake) Telegram."""

from __future__ import annotations

import pytest

from storage.models import StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.conftest import telegram_settings
from tests.dashboard import PASSWORD, add_staff
from tests.test_nominations import CONSENT_DAY, STORY_TEXT, gps_photo, stored_nomination


@pytest.fixture
async def server(settings, tg):  # type: ignore[no-untyped-def]
    async for live in serve(telegram_settings(settings, tg)):
        yield live


async def test_a_nomination_is_reviewed_previewed_and_published_in_the_browser(server, page, sessions, settings, tg) -> None:
    nomination = await stored_nomination(sessions, settings.data_dir, photos=[gps_photo(1600, 1200), gps_photo(1200, 1600)])
    other = await stored_nomination(sessions, settings.data_dir, area="24175")
    await add_staff(sessions, "eakao", StaffRole.commune, "24169")
    await sign_in_page(page, server, "eakao", PASSWORD)
    await page.click("nav >> text=Câu chuyện thật")
    await page.wait_for_url("**/admin/nominations")
    assert await page.locator("table.tickets tbody tr").count() == 1  # not the other commune's
    assert other.code not in await page.content()
    await page.click(f"text={nomination.code}")
    await page.wait_for_url(f"**/admin/nominations/{nomination.id}")
    photos = page.locator("figure.file img")
    assert await photos.count() == 2
    assert await photos.nth(1).evaluate("img => img.complete && img.naturalWidth > 0")
    await page.fill("input[name=title]", "Hợp tác xã bò sinh sản ở Ea Kao")
    await page.fill("textarea[name=body]", STORY_TEXT)
    await page.fill("input[name=lesson]", "Làm cùng nhau thì vững hơn.")
    await page.fill("input[name=consent_day]", CONSENT_DAY.isoformat())
    await page.fill("input[name=consent_by]", "chủ hộ, anh Y Bloa")
    await page.click("button[name=action][value=preview]")
    preview = await page.text_content("aside.preview")
    assert "Câu chuyện thật" in preview and "anh Y Bloa" in preview and "Hợp tác xã bò sinh sản" in preview
    await screenshot(page, "nomination")
    mark = tg.mark()
    await page.click("button[name=action][value=publish]")
    await page.wait_for_url("**done=published")
    told = await tg.wait_for(lambda s: s.method == "sendMessage" and "đã được đăng" in (s.text or ""), timeout=15, start=mark)
    assert nomination.code in (told.text or "")
    await page.goto(server.url(f"/cau-chuyen/{nomination.code.lower()}"))
    assert "Câu chuyện thật" in await page.text_content("article .real")
    images = page.locator("article figure.photo img")
    assert await images.count() == 2
    for number in range(2):
        width = await images.nth(number).evaluate("img => img.complete ? Math.max(img.naturalWidth, img.naturalHeight) : 0")
        assert 0 < width <= 1280
    await screenshot(page, "public-story-real")
    await page.goto(server.url("/cau-chuyen"))
    first = page.locator("ul.cards li").first
    assert "Hợp tác xã bò sinh sản ở Ea Kao" in await first.text_content()
