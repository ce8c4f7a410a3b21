"""The web chat page in real headless Chromium on a phone-sized screen: a report with a photo from the
file input and the browser's location, buttons of earlier messages shown as used and sending
nothing, long "did you mean" questions shown whole, a recorded voice message (a fake microphone),
and, with JavaScript off, plain words that point to /hoi-dap and no typed text in any URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from storage.models import Conversation, Ticket, TicketAttachment
from tests.browser import (
    CHROMIUM_FLAGS,
    IDLE,
    bot_says,
    chromium_path,
    javascript_errors,
    new_tab,
    offers,
    press,
    screenshot,
    serve,
    type_and_send,
)
from tests.test_webchat import LONG_QUESTION_QUERY
from tests.test_webchat_media import png

ON = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
PHONE = {"width": 390, "height": 844}
EA_KAO = {"latitude": 12.6675, "longitude": 108.0383}


@pytest.fixture
async def server(settings):  # type: ignore[no-untyped-def]
    async for live in serve(settings, clock=lambda: ON):
        yield live


@pytest.fixture
async def phone(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A phone-sized page that may read its location (set near Ea Kao), failing on JavaScript errors."""
    async with new_tab(browser, viewport=PHONE, locale="vi-VN", has_touch=True,
                       permissions=["geolocation"], geolocation=EA_KAO) as tab:
        errors = javascript_errors(tab)
        posts: list[str] = []
        tab.on("request", lambda request: posts.append(request.post_data or "<files>")
               if request.url.endswith("/chat/api/messages") else None)
        tab.posts = posts
        yield tab
    assert errors == [], f"JavaScript errors on the page: {errors}"


async def begin(tab, server) -> None:  # type: ignore[no-untyped-def]
    """Open the chat and answer the greeting's questions: only questions, in Vietnamese."""
    await tab.goto(server.url("/chat"))
    await bot_says(tab, "đồng ý")
    await press(tab, "chỉ hỏi đáp")
    await bot_says(tab, "ngôn ngữ")
    await press(tab, "Tiếng Việt")
    await tab.wait_for_selector(IDLE)


async def test_a_report_with_a_photo_and_the_location_and_used_buttons_send_nothing(server, phone, sessions) -> None:
    await begin(phone, server)

    await type_and_send(phone, LONG_QUESTION_QUERY)
    await bot_says(phone, "Có phải")
    assert phone.url == server.url("/chat"), "typed text never reaches the address bar"
    questions = phone.locator(".chips:not(.used) [data-testid=chip]")
    labels = await questions.all_text_contents()
    longest = max(labels, key=len)
    assert len(longest) > 60 and not longest.endswith("…"), labels
    chip = questions.filter(has_text=longest)
    box = await chip.bounding_box()
    line = await chip.evaluate("b => parseFloat(getComputedStyle(b).lineHeight)")
    assert box["height"] > 1.8 * line and box["x"] + box["width"] <= PHONE["width"], "the whole question wraps on the screen"
    await screenshot(phone, "webchat-did-you-mean")

    await type_and_send(phone, "/phananh")
    await bot_says(phone, "Bà con muốn gửi gì")
    await press(phone, "Báo sự việc")
    await offers(phone, "Khác")
    await press(phone, "Khác")
    await bot_says(phone, "tin nhắn thoại")
    await type_and_send(phone, "Cống ở đầu thôn 3 bị vỡ, nước tràn ra đường.")
    await bot_says(phone, "Bỏ qua")

    used = phone.locator(".chips.used [data-testid=chip]")
    assert await used.count() > 0 and all(await used.evaluate_all("bs => bs.map(b => b.disabled)"))
    pressed = await phone.locator(".chips.used .chip.pressed").all_text_contents()
    assert pressed == ["Không, tôi chỉ hỏi đáp", "Tiếng Việt", "⚠️ Báo sự việc", "Khác"], pressed
    sent = len(phone.posts)
    users = await phone.locator("[data-testid=bubble-user]").count()
    await used.filter(has_text="Báo sự việc").click(force=True)
    await used.first.dispatch_event("click")
    await phone.wait_for_timeout(500)
    assert len(phone.posts) == sent and await phone.locator("[data-testid=bubble-user]").count() == users, "a stale click sends nothing"

    await phone.set_input_files("[data-testid=camera-input]", files=[
        {"name": "cong-vo.png", "mimeType": "image/png", "buffer": png(64, 48)},
    ])
    await bot_says(phone, "1 ảnh")
    thumbnail = phone.locator("[data-testid=bubble-user] .thumbs img")
    assert (await thumbnail.get_attribute("src") or "").startswith("data:image/jpeg"), "the photo is shown as sent"
    await phone.click("[data-testid=locate]")
    await phone.wait_for_selector("[data-testid=bubble-user]:has-text('12.66750, 108.03830')")
    await phone.wait_for_selector(IDLE)
    await screenshot(phone, "webchat-report-media")
    await press(phone, "Xong")
    await bot_says(phone, "xã/phường nào")
    await type_and_send(phone, "ea kao")
    await bot_says(phone, "Gửi ẩn danh")
    await press(phone, "Gửi ẩn danh")
    await bot_says(phone, "12.66750, 108.03830")
    await press(phone, "Gửi")
    await bot_says(phone, "PA-")

    async with sessions() as session:
        ticket = (await session.exec(select(Ticket))).one()
        [photo] = (await session.exec(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id))).all()
    assert (ticket.latitude, ticket.longitude) == (EA_KAO["latitude"], EA_KAO["longitude"])
    assert (photo.kind, photo.mime_type) == ("photo", "image/png")
    assert phone.url == server.url("/chat")

    await phone.reload()
    await phone.wait_for_selector("[data-testid=bubble-bot]:has-text('PA-')")
    assert await phone.locator(".chips.used .chip.pressed").all_text_contents() == pressed + ["✅ Xong", "🕶 Gửi ẩn danh", "📨 Gửi"]
    assert await phone.locator(".chips:not(.used)").count() == 1, "after a reload only the latest buttons work"


async def test_a_voice_message_recorded_with_a_fake_microphone_reaches_the_report(server, sessions) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium here")
    from playwright.async_api import async_playwright

    flags = [*CHROMIUM_FLAGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=flags)
        try:
            context = await browser.new_context(viewport=PHONE, locale="vi-VN", permissions=["microphone"])
            context.set_default_timeout(15_000)
            tab = await context.new_page()
            await begin(tab, server)
            await type_and_send(tab, "/phananh")
            await bot_says(tab, "Bà con muốn gửi gì")
            await press(tab, "Báo sự việc")
            await offers(tab, "Khác")
            await press(tab, "Khác")
            await bot_says(tab, "tin nhắn thoại")
            await tab.click("[data-testid=record]")
            await tab.wait_for_selector("[data-testid=stop]:visible")
            assert "Đang ghi âm" in (await tab.text_content("[data-testid=status]") or "")
            await tab.wait_for_timeout(1800)
            await tab.click("[data-testid=stop]")
            await tab.wait_for_selector("[data-testid=bubble-user]:has-text('tin nhắn thoại')")
            await bot_says(tab, "ảnh")
            assert await tab.is_visible("[data-testid=record]")
        finally:
            await browser.close()
    async with sessions() as session:
        voice = (await session.exec(select(Conversation))).one().data["draft"]["voice"]
    assert voice["mime"] in ("audio/webm", "audio/ogg") and voice["size"] > 1000


async def test_without_javascript_the_page_says_what_to_do_and_nothing_can_be_submitted(server, browser) -> None:
    async with new_tab(browser, viewport=PHONE, locale="vi-VN", java_script_enabled=False) as tab:
        await tab.goto(server.url("/chat"))
        message = tab.locator("[data-testid=nojs]")
        assert await message.is_visible()
        assert (await message.text_content() or "").startswith("Trang trò chuyện cần bật JavaScript. Bà con có thể hỏi đáp tại /hoi-dap")
        for hidden in ("[data-testid=input]", "[data-testid=send]", "[data-testid=camera]", "[data-testid=locate]"):
            assert not await tab.is_visible(hidden), hidden
        assert await tab.get_attribute("#form", "method") == "post"
        await screenshot(tab, "webchat-no-javascript")
        await message.locator("a").click()
        await tab.wait_for_url(server.url("/hoi-dap"))
        await tab.fill("#q", "chuan ho ngheo")
        await tab.press("#q", "Enter")
        await tab.wait_for_selector("#result")
        assert "?q=" in tab.url and "/chat" not in tab.url
