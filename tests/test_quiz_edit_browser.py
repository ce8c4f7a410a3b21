"""In real headless Chromium: province staff edit a quiz question (a new wording, another right
answer), preview it as citizens see it, save it, and the web chat's next round asks it."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import select

from storage.models import AuditEntry, QuizQuestionRow, StaffRole
from tests.browser import screenshot, serve, sign_in_page
from tests.dashboard import PASSWORD, add_staff

QUESTION_ID = "poverty-line-rural-2027"
NEW_WORDING = "Theo chuẩn nghèo mới từ 1/1/2027, hộ ở nông thôn có thu nhập bình quân từ bao nhiêu trở xuống là hộ nghèo?"


@pytest.fixture
async def server(settings):  # type: ignore[no-untyped-def]
    async for live in serve(settings):
        yield live


async def test_staff_edit_a_question_preview_it_and_the_web_chat_asks_it(server, browser, page, sessions) -> None:
    async with sessions() as session:
        await session.exec(update(QuizQuestionRow).where(QuizQuestionRow.id != QUESTION_ID).values(published=False))  # type: ignore[call-overload]
        await session.commit()
    await add_staff(sessions, "lan", StaffRole.province)
    await sign_in_page(page, server, "lan", PASSWORD)
    await page.click("nav >> a[href='/admin/quiz']")
    await page.click("a[href='/admin/quiz/questions']")
    assert (await page.text_content("h1") or "").startswith("Câu hỏi đố vui")
    await page.click(f"a[href='/admin/quiz/questions/{QUESTION_ID}']")
    assert await page.input_value("input[name=vi_choice_2]") == "2.200.000 đồng"
    assert await page.is_checked("input[name=answer][value='2']")

    await page.fill("input[name=vi_question]", NEW_WORDING)
    await page.fill("input[name=vi_choice_3]", "")  # a row left empty in both languages is dropped
    await page.fill("input[name=en_choice_3]", "")
    await page.click("button[value=preview]")
    preview = await page.text_content(".preview") or ""
    assert f"Câu 1/5: {NEW_WORDING}" in preview and "Nguồn: Nghị định 351/2025/NĐ-CP" in preview
    assert "2.800.000 đồng" not in preview
    await screenshot(page, "quiz-edit")
    await page.click("button[value=save]")
    await page.wait_for_selector("text=Đã lưu")
    async with sessions() as session:
        row = await session.get(QuizQuestionRow, QUESTION_ID)
        logged = (await session.exec(select(AuditEntry).where(AuditEntry.action == "quiz.question.edit"))).one()
    assert row.texts["vi"]["question"] == NEW_WORDING and len(row.texts["en"]["choices"]) == 3 and row.answer == 2
    assert (logged.object_id, logged.actor) == (QUESTION_ID, "lan")

    chat = await (await browser.new_context(locale="vi-VN")).new_page()
    await chat.goto(server.url("/chat"))
    await chat.wait_for_selector("[data-testid=bubble-bot]")
    await chat.fill("[data-testid=input]", "/dovui")
    await chat.click("[data-testid=send]")
    await chat.wait_for_selector(f"text={NEW_WORDING}")
    await chat.click("text=2.200.000 đồng")
    await chat.wait_for_selector("text=Đúng rồi!")
