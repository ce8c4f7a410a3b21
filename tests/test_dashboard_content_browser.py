"""In real headless Chromium: a citizen asks the web chat something it cannot answer; staff turn the
question into an FAQ entry on the Unanswered questions screen; the citizen asks again and gets it."""

from __future__ import annotations

import pytest
from sqlmodel import select

from handlers.engine import utc_now
from storage.content import record_unanswered
from storage.models import AuditEntry, StaffRole, UnansweredQuestion
from tests.browser import screenshot, serve, sign_in_page
from tests.dashboard import PASSWORD, add_staff

QUESTION = "Tưới cà phê mùa khô có được hỗ trợ máy bơm không?"
ANSWER = ("Có thể. Dự án hỗ trợ phát triển sản xuất hỗ trợ máy móc, vật tư cho nhóm hộ nghèo, cận nghèo cùng làm; "
          "bà con đăng ký với UBND xã.")


@pytest.fixture
async def server(settings):  # type: ignore[no-untyped-def]
    async for live in serve(settings):
        yield live


async def ask(chat, text: str) -> str:  # type: ignore[no-untyped-def]
    """Type a question in the web chat; the bot's reply to it."""
    bubbles = chat.locator("[data-testid=bubble-bot]")
    before = await bubbles.count()
    await chat.fill("[data-testid=input]", text)
    await chat.click("[data-testid=send]")
    await chat.wait_for_function(
        "n => document.querySelectorAll('[data-testid=bubble-bot]').length > n", arg=before,
    )
    return await bubbles.nth(before).text_content() or ""


async def test_an_unanswered_question_becomes_an_faq_entry_the_web_chat_answers(server, browser, page, sessions) -> None:
    citizen = await browser.new_context(locale="vi-VN")
    chat = await citizen.new_page()
    await chat.goto(server.url("/chat"))
    await chat.wait_for_selector("[data-testid=bubble-bot]")  # the greeting
    first = await ask(chat, QUESTION)
    assert "Quyết định 90" not in first
    async with sessions() as session:
        assert (await session.exec(select(UnansweredQuestion))).first() is not None

        for text, times in (("Làm giấy xác nhận hộ cận nghèo mất bao lâu vậy?", 4), ("con hoc dai hoc co dc mien hoc phi ko", 2)):
            for _ in range(times):
                await record_unanswered(session, text.lower(), text, "vi", now=utc_now())
        await session.commit()
    await add_staff(sessions, "lan", StaffRole.province)
    await sign_in_page(page, server, "lan", PASSWORD)
    await page.click("nav >> a[href='/admin/unanswered']")
    assert await page.text_content("h1") == "Câu hỏi chưa có lời đáp"
    row = page.locator("table.unanswered tbody tr", has_text=QUESTION)
    await screenshot(page, "unanswered")
    await row.locator("text=Thêm mục hỏi đáp").click()
    assert await page.input_value("input[name=vi_question]") == QUESTION
    await page.select_option("select[name=topic]", "livelihoods")
    await page.fill("textarea[name=vi_answer]", ANSWER)
    await page.fill("input[name=en_question]", "Can we get support for a water pump for the coffee in the dry season?")
    await page.fill("textarea[name=en_answer]", "Possibly. The production support project helps groups of poor and near-poor households with machines and supplies; apply at the commune.")
    await page.fill("input[name=source_0_document]", "Quyết định 90/QĐ-TTg")
    await page.fill("input[name=source_0_date]", "2022-01-18")
    await page.click("button[value=preview]")
    assert "Nguồn: Quyết định 90/QĐ-TTg (18/01/2022)" in await page.text_content(".preview")
    await screenshot(page, "content")
    await page.click("button[value=save]")
    await page.wait_for_selector("text=Đã lưu")
    entry_id = page.url.rsplit("/", 1)[1].split("?")[0]
    assert entry_id.startswith("tuoi-ca-phe")

    answer = await ask(chat, QUESTION)
    assert ANSWER in answer and "Nguồn: Quyết định 90/QĐ-TTg (18/01/2022)" in answer
    async with sessions() as session:
        left = (await session.exec(select(UnansweredQuestion.text))).all()
        assert QUESTION not in left and len(left) == 2
        logged = (await session.exec(select(AuditEntry).where(AuditEntry.action == "content.create"))).one()
        assert logged.object_id == entry_id and logged.actor == "lan"
    await citizen.close()
