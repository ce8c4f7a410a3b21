"""A commune officer opens a policy dialogue in real Chromium: questions ranked by support, one hidden,
an answer written and the answers published."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from handlers.engine import utc_now
from storage import dialogues
from storage import tickets as ticket_repo
from storage.models import Citizen, Dialogue, DialogueStatus, StaffRole, Ticket
from tests.browser import screenshot, serve, sign_in_page
from tests.dashboard import COMMUNE, PASSWORD, add_staff

QUESTIONS = [
    # asker, question, supporters
    ("8101", "Khi nào xã rà soát lại danh sách hộ cận nghèo năm nay?", 4),
    ("8102", "Hộ mới thoát nghèo còn được vay vốn ưu đãi bao lâu?", 7),
    ("8103", "Thủ tục xin hỗ trợ sửa nhà cho hộ nghèo làm ở đâu?", 2),
]


async def add_dialogue(sessions) -> int:  # type: ignore[no-untyped-def]
    now = utc_now()
    async with sessions() as session:
        dialogue = await dialogues.create_dialogue(
            session, topics={"vi": "Chính sách hỗ trợ hộ nghèo, hộ cận nghèo năm 2027"}, held_at=now + timedelta(days=6),
            questions_close_at=now + timedelta(days=5), area_code=COMMUNE, officials="Chủ tịch UBND xã, cán bộ Ngân hàng CSXH",
            place="Hội trường UBND xã Hòa Phú", now=now, author="hoaphu",
        )
        people = {}
        for chat in [asker for asker, _, _ in QUESTIONS] + [f"9{n:03}" for n in range(7)]:
            people[chat] = Citizen(channel="telegram", channel_user_id=chat, area_code=COMMUNE, locale="vi", consent_at=now,
                                   display_name=f"Người dân {chat}", created_at=now, last_seen_at=now)
            session.add(people[chat])
        await session.flush()
        for asker, text, supporters in QUESTIONS:
            ticket = await ticket_repo.create_ticket(
                session, citizen_id=people[asker].id, kind="question", topic=dialogues.TICKET_TOPIC, body=text,
                area_code=COMMUNE, anonymous=False, reporter_name=people[asker].display_name, locale="vi",
                now=now, due_at=now + timedelta(days=3),
            )
            await dialogues.add_question(session, dialogue, ticket)
            for n in range(supporters):
                await dialogues.vote(session, ticket.id, people[f"9{n:03}"].id, now)
        await session.commit()
        return dialogue.id


async def test_the_dialogue_screen_ranks_hides_answers_and_publishes(settings, sessions, page) -> None:  # type: ignore[no-untyped-def]
    dialogue_id = await add_dialogue(sessions)
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    async for server in serve(settings):
        await sign_in_page(page, server, "hoaphu", PASSWORD)
        await page.click("ul.menu a[href=\"/admin/dialogues\"]")
        await page.click("text=Chính sách hỗ trợ hộ nghèo, hộ cận nghèo năm 2027")
        await page.wait_for_url(f"**/admin/dialogues/{dialogue_id}")
        items = await page.locator("ol.questions > li p.text").all_text_contents()
        assert items == [QUESTIONS[1][1], QUESTIONS[0][1], QUESTIONS[2][1]]
        assert "Người dân" not in (await page.content()).split('class="questions"')[1]

        third = page.locator("ol.questions > li").nth(2)
        await third.locator("button", has_text="Ẩn với người dân").click()
        await page.locator("ol.questions > li").nth(2).locator(".badge", has_text="đã ẩn").wait_for()
        first = page.locator("ol.questions > li").nth(0)
        await first.locator("textarea[name=answer]").fill("Hộ mới thoát nghèo được vay vốn ưu đãi trong 3 năm kể từ khi ra khỏi danh sách.")
        await first.locator("button", has_text="Lưu câu trả lời").click()
        assert "Dạ, đã lưu." in await page.text_content("[role=status]")
        await screenshot(page, "dialogue")

        await page.fill("textarea[name=summary]", "Buổi đối thoại trả lời các câu hỏi về vay vốn và rà soát hộ cận nghèo.")
        await page.click("button.primary:has-text('Công bố trả lời')")
        await page.locator("[role=status]", has_text="Đã công bố trả lời").wait_for()
    async with sessions() as session:
        dialogue = await session.get(Dialogue, dialogue_id)
        answered = (await session.exec(select(Ticket).where(Ticket.status == "answered"))).all()
    assert dialogue.status == DialogueStatus.answered
    assert [ticket.body for ticket in answered] == [QUESTIONS[1][1]]
