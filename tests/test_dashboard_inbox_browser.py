"""The inbox in real headless Chromium: open a ticket with a photo, reply, and the citizen gets the
reply on (fake) Telegram."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.models import StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, OTHER_COMMUNE, PASSWORD, add_staff
from tests.test_dashboard_inbox import make_ticket

CHAT_ID = 4242


@pytest.fixture
async def server(settings, tg):  # type: ignore[no-untyped-def]
    async for live in serve(telegram_settings(settings, tg)):
        yield live


async def test_reply_from_the_ticket_page_reaches_the_citizen_on_telegram(server, page, sessions, settings, tg) -> None:
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    code = await make_ticket(sessions, settings.data_dir, chat_id=str(CHAT_ID), photo=True, voice=True,
                             location=(12.6797, 108.0377), body="Cầu tràn ở thôn 3 bị sạt lở, xe máy không qua được.")
    await make_ticket(sessions, chat_id="51", kind="complaint", body="Gia đình tôi là hộ nghèo nhưng không có tên trong danh sách",
                      age=timedelta(days=12), due_in=timedelta(days=10))
    await make_ticket(sessions, chat_id="52", kind="question", body="Hộ cận nghèo có được hỗ trợ học phí không?", anonymous=True,
                      age=timedelta(hours=5))
    await make_ticket(sessions, chat_id="53", area=OTHER_COMMUNE, body="Not for this commune")
    await sign_in_page(page, server, "hoaphu", PASSWORD)
    await page.click("nav >> text=Hộp thư")
    await page.wait_for_url("**/admin/inbox")
    assert await page.locator("table.tickets tbody tr").count() == 3
    assert await page.locator("tr.late").count() == 1
    await page.fill("input[name=q]", "cau tran sat lo")
    await page.click("button:has-text('Lọc')")
    await page.wait_for_url("**q=cau+tran+sat+lo**")
    assert await page.locator("table.tickets tbody tr").count() == 1
    await page.click("a[href='/admin/inbox']")
    await page.wait_for_url("**/admin/inbox")
    await screenshot(page, "inbox")
    await page.click(f"text={code}")
    await page.wait_for_url(f"**/admin/tickets/{code}")
    photo = page.locator("figure.file img")
    assert await photo.evaluate("img => img.complete && img.naturalWidth > 0")
    assert await page.locator("audio[controls]").count() == 1
    await page.click("summary:has-text('Mẫu trả lời')")
    await page.click("button.use-template >> nth=0")
    assert code in await page.input_value("#reply-text")
    reply = "Xã đã cử cán bộ kiểm tra cầu tràn; sẽ có biển cảnh báo trong hôm nay."
    await page.fill("#reply-text", reply)
    mark = tg.mark()
    await page.click("button:has-text('Gửi câu trả lời')")
    await page.wait_for_url("**done=reply")
    sent = await tg.wait_for(lambda s: s.method == "sendMessage" and s.chat_id == CHAT_ID, timeout=15, start=mark)
    assert reply in (sent.text or "") and code in (sent.text or "")
    await page.reload()
    assert "đã gửi" in await page.text_content(".kind-reply .meta")
    await screenshot(page, "ticket")
