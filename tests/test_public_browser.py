"""The public pages in real headless Chromium: search by typing in the form, navigation with JavaScript
switched off on a phone-sized screen, the style sheet and QR codes load, no personal data in the HTML."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.browser import new_tab, screenshot, serve
from tests.test_public import SECRETS, seed_private
from tests.test_report import NOW, TZ, seed

PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def server(settings, sessions):  # type: ignore[no-untyped-def]
    await seed(sessions)
    await seed_private(sessions)
    public = settings.model_copy(update={"public_base_url": "http://caunoi.daklak.example"})
    async for live in serve(public, clock=lambda: NOW):
        yield live


@pytest.fixture
async def phone(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A phone-sized page with JavaScript switched off."""
    async with new_tab(browser, viewport=PHONE, locale="vi-VN", java_script_enabled=False, has_touch=True) as tab:
        yield tab


async def test_search_by_typing_in_the_form(server, page, services) -> None:
    await page.goto(server.url("/hoi-dap"))
    assert await page.get_attribute("html", "lang") == "vi"
    await page.get_by_label("Bà con gõ câu hỏi, có dấu hay không dấu đều được").fill("chuan ho ngheo")
    await page.get_by_role("button", name="Tìm kiếm").click()
    await page.wait_for_url("**/hoi-dap?q=chuan+ho+ngheo")
    expected = services.library.index.search("chuan ho ngheo", on=NOW.astimezone(TZ).date()).best.entry
    assert (await page.text_content("#result")) == expected.text("vi").question
    assert "Nguồn:" in await page.text_content(".result .answer")
    assert await page.input_value("#q") == "chuan ho ngheo"
    await screenshot(page, "public-faq")

    await page.fill("#q", "giá vàng hôm nay")
    await page.press("#q", "Enter")
    await page.wait_for_selector("[data-status=none]")
    assert await page.text_content("#result") == "Chưa có câu trả lời"
    await page.click(".result a.button")
    await page.wait_for_url("**/chat")

    await page.goto(server.url("/hoi-dap?lang=en"))
    await page.fill("#q", "loan interest for poor households")
    await page.click("form.search button")
    await page.wait_for_url("**/hoi-dap?q=loan*lang=en")
    assert "Bank for Social Policies" in await page.text_content(".result")


async def test_a_phone_without_javascript_reads_and_navigates(server, phone) -> None:
    await phone.goto(server.url("/"))
    header = await phone.locator("header.top").bounding_box()
    assert header and header["width"] == PHONE["width"]  # the style sheet loaded: the header spans the screen
    for target in ("form.search button", "nav a >> nth=1"):
        box = await phone.locator(target).bounding_box()
        assert box and box["height"] >= 44, target  # large enough to tap
    whole = await phone.locator("body").bounding_box()
    assert whole and whole["width"] <= PHONE["width"]  # nothing wider than the screen
    html = await phone.content()
    assert all(secret not in html for secret in SECRETS)
    await screenshot(phone, "public-home")

    await phone.click("nav >> text=Câu chuyện")
    await phone.wait_for_url("**/cau-chuyen")
    await phone.click(".cards h2 a >> nth=0")
    await phone.wait_for_url("**/cau-chuyen/*")
    assert await phone.locator("h2", has_text="Bài học").count() == 1
    await phone.click("nav >> text=Hỏi đáp")
    await phone.click("text=Vay vốn Ngân hàng Chính sách xã hội")
    await phone.wait_for_url("**/hoi-dap/credit")
    await phone.click(".qa a >> nth=0")
    await phone.wait_for_url("**/hoi-dap/cau/*")
    assert "Nguồn:" in await phone.text_content(".answer")
    await phone.click("nav >> text=Số liệu")
    await phone.wait_for_url("**/thong-ke")
    assert await phone.text_content("#total-received") == "7"  # 4 from seed, 3 from seed_private
    await phone.click("header >> text=English")
    await phone.wait_for_url("**/thong-ke?lang=en")
    assert "in figures" in await phone.text_content("h1")
    await phone.click("nav >> text=Dates ahead")
    await phone.wait_for_url("**/lich?lang=en")
    assert "Dialogue on loans" in await phone.text_content("main")


async def test_qr_codes_and_the_style_sheet_load(server, page) -> None:
    await page.goto(server.url("/"))
    qr = page.locator("img[src='/qr/web.svg']")
    await qr.wait_for()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    colour = await page.locator("header.top").evaluate("element => getComputedStyle(element).backgroundColor")
    assert colour == "rgb(29, 107, 87)"
    assert "http://caunoi.daklak.example/chat" in await page.text_content(".ways")
