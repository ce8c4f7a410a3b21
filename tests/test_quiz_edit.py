"""Editing the policy quiz's questions in the dashboard: the list with how often each question was
answered and answered right, create and edit checked with content.quiz's rules, the preview as
citizens see it, publish/unpublish, the audit log, and rounds using an edit at once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import select

from bot.app import create_app
from handlers.engine import utc_now
from storage import quiz as quiz_repo
from storage.models import AuditEntry, Citizen, FaqRow, QuizPlay, QuizQuestionRow, StaffRole
from tests.conftest import telegram_settings
from tests.dashboard import COMMUNE, add_staff, sign_in
from tests.drivers import TelegramDriver, joined

NEW_ID = "bhyt-ho-ngheo"
QUESTION = "Hộ nghèo được Nhà nước hỗ trợ bao nhiêu phần trăm tiền mua thẻ BHYT?"


def question_form(**changes: str) -> dict[str, str]:
    """A valid new question as the form posts it: choice rows 0 and 2 filled, row 2 marked right."""
    form = {
        "id": NEW_ID, "topic": "poverty_standard", "faq_id": "poverty-standard-2027-new", "answer": "2",
        "vi_question": QUESTION, "en_question": "How much of a poor household's health insurance card does the State pay?",
        "vi_choice_0": "50%", "en_choice_0": "50%", "vi_choice_1": "", "en_choice_1": "",
        "vi_choice_2": "100%", "en_choice_2": "100%", "vi_choice_3": "", "en_choice_3": "",
        "vi_explanation": "Người thuộc hộ nghèo được cấp thẻ BHYT miễn phí.",
        "en_explanation": "People of poor households get a free health insurance card.",
        "published": "1", "action": "save",
    }
    form.update(changes)
    return form


async def audit_actions(sessions) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.object_type == "quiz_question").order_by(AuditEntry.id))).all()
        return [(entry.action, entry.object_id) for entry in entries]


async def editor_of(app, aiohttp_client, sessions, role: StaffRole = StaffRole.province, area: str | None = None):  # type: ignore[no-untyped-def]
    await add_staff(sessions, f"staff-{role}", role, area)
    return await sign_in(await aiohttp_client(app), f"staff-{role}")


async def test_a_new_question_is_saved_logged_and_the_next_round_asks_it_edits_and_unpublishing_count_at_once(
    settings, sessions, tg, aiohttp_client,
) -> None:
    async with sessions() as session:
        await session.exec(update(QuizQuestionRow).values(published=False))  # type: ignore[call-overload]
        await session.commit()
    app = create_app(telegram_settings(settings, tg))
    editor = await editor_of(app, aiohttp_client, sessions)
    citizen = TelegramDriver(tg)
    assert "chưa có câu đố nào" in joined(await citizen.send("/dovui"))

    created = await editor.post("/admin/quiz/questions/new", question_form())
    assert created.status == 303, await created.text()
    assert created.headers["Location"] == f"/admin/quiz/questions/{NEW_ID}?saved=1"
    async with sessions() as session:
        row = await session.get(QuizQuestionRow, NEW_ID)
        last = max(other.position for other in await quiz_repo.all_questions(session) if other.id != NEW_ID)
    assert (row.answer, row.texts["vi"]["choices"], row.texts["en"]["choices"], row.published) == (1, ["50%", "100%"], ["50%", "100%"], True)
    assert row.position > last
    assert "Đã lưu" in await editor.page(f"/admin/quiz/questions/{NEW_ID}?saved=1")

    await citizen.send("/dovui")
    assert "1 câu hỏi" in joined(citizen.last) and QUESTION in citizen.last[-1].text
    await citizen.press("100%")
    answer = joined(citizen.last)
    assert "✅ Đúng rồi!" in answer and "được cấp thẻ BHYT miễn phí" in answer and "Nguồn: " in answer

    edited = await editor.post(f"/admin/quiz/questions/{NEW_ID}", question_form(vi_question="Hộ nghèo được hỗ trợ mấy phần trăm tiền thẻ BHYT?"))
    assert edited.status == 303
    await citizen.send("/dovui")
    assert "mấy phần trăm tiền thẻ BHYT" in citizen.last[-1].text

    unpublished = await editor.post(f"/admin/quiz/questions/{NEW_ID}/publish", {"action": "unpublish"})
    assert unpublished.status == 303
    assert "chưa có câu đố nào" in joined(await citizen.send("/dovui"))
    assert await audit_actions(sessions) == [
        ("quiz.question.create", NEW_ID), ("quiz.question.edit", NEW_ID), ("quiz.question.unpublish", NEW_ID)]


async def test_a_bad_form_gets_clear_messages_keeps_what_was_typed_and_saves_nothing(settings, sessions, aiohttp_client) -> None:
    editor = await editor_of(create_app(settings), aiohttp_client, sessions)
    response = await editor.post("/admin/quiz/questions/new", question_form(
        id="Bad Id", vi_question="Hỏi", vi_choice_2="", en_choice_2="", vi_explanation="x" * 301,
    ))
    assert response.status == 400
    html = await response.text()
    assert "Dùng chữ thường" in html and "Cần ít nhất 5 ký tự" in html and "Cần ít nhất 2 lựa chọn" in html
    assert "Tối đa 300 ký tự" in html
    assert 'value="Bad Id"' not in html and 'value="bad id"' in html  # ids are lower-cased, then refused
    checks = [
        (question_form(en_choice_2=""), "Mỗi lựa chọn cần từ 1 đến 60 ký tự"),
        (question_form(vi_choice_2="50%"), "Có hai lựa chọn giống nhau"),
        (question_form(answer="1"), "Hãy đánh dấu đáp án đúng"),
        (question_form(answer=""), "Hãy đánh dấu đáp án đúng"),
        (question_form(faq_id="no-such-entry"), "Hãy chọn mục hỏi đáp làm căn cứ"),
        (question_form(faq_id="daklak-targets"), "đang chờ rà soát"),
        (question_form(topic="weather"), "Hãy chọn một chủ đề"),
        (question_form(id="poverty-line-rural-2026"), "Mã này đã được dùng"),
        (question_form(id="new"), "Mã này đã được dùng"),
    ]
    for form, message in checks:
        response = await editor.post("/admin/quiz/questions/new", form)
        html = await response.text()
        assert response.status == 400 and message in html, (form, message)
        assert f'value="{QUESTION}"' in html
    async with sessions() as session:
        await session.exec(update(FaqRow).where(FaqRow.id == "loan-rate-poor").values(published=False))  # type: ignore[call-overload]
        await session.commit()
    response = await editor.post("/admin/quiz/questions/new", question_form(faq_id="loan-rate-poor"))
    assert response.status == 400 and "Mục hỏi đáp này chưa được đăng" in await response.text()
    async with sessions() as session:
        assert await session.get(QuizQuestionRow, NEW_ID) is None
    assert await audit_actions(sessions) == []


async def test_the_preview_shows_the_question_and_the_feedback_with_the_legal_source_and_saves_nothing(
    settings, sessions, aiohttp_client,
) -> None:
    editor = await editor_of(create_app(settings), aiohttp_client, sessions)
    html = await editor.page("/admin/quiz/questions/poverty-line-rural-2027")
    assert "Câu 1/5: Từ 1/1/2027, chuẩn nghèo mới ở nông thôn" in html and "Question 1/5: From 1/1/2027" in html
    assert "✅ Đúng rồi!" in html and "❌ Chưa đúng rồi ạ. Đáp án đúng là: 2.200.000 đồng" in html
    assert "❌ Not quite. The right answer is: 2,200,000 VND" in html
    assert "Nguồn: Nghị định 351/2025/NĐ-CP" in html and "Source: Nghị định 351/2025/NĐ-CP" in html
    assert "Ngừng xuất bản" in html and "Xem trước thay đổi" not in html
    async with sessions() as session:
        before = await session.get(QuizQuestionRow, "poverty-line-rural-2027")
        texts, stamp = dict(before.texts), before.updated_at
    form = question_form(id="ignored", topic="poverty_standard", faq_id="poverty-standard-2027-new",
                         vi_question="Chuẩn nghèo nông thôn từ năm 2027 là bao nhiêu?", action="preview")
    response = await editor.post("/admin/quiz/questions/poverty-line-rural-2027", form)
    html = await response.text()
    assert response.status == 200 and "Câu 1/5: Chuẩn nghèo nông thôn từ năm 2027 là bao nhiêu?" in html
    assert "Xem trước thay đổi (chưa lưu)" in html and "Ngừng xuất bản" not in html
    async with sessions() as session:
        after = await session.get(QuizQuestionRow, "poverty-line-rural-2027")
        assert (after.texts, after.updated_at) == (texts, stamp)
    assert await audit_actions(sessions) == []


async def test_the_list_counts_answers_and_the_share_answered_right(settings, sessions, aiohttp_client) -> None:
    now = utc_now()
    async with sessions() as session:
        # poverty-line-rural-2026's right choice is 1; poverty-line-urban-2026's is 2
        for question_ids, answers in ((["poverty-line-rural-2026", "poverty-line-urban-2026"], [1, 0]),
                                      (["poverty-line-rural-2026", "poverty-line-urban-2026"], [1]),
                                      (["poverty-line-urban-2026", "poverty-line-rural-2026"], [2, 0])):
            play = QuizPlay(question_ids=question_ids, started_at=now)
            session.add(play)
            for choice in answers:  # as a citizen's answers are recorded (and counted)
                await quiz_repo.record_answer(session, play, choice, False, now, None)
        await session.commit()
    editor = await editor_of(create_app(settings), aiohttp_client, sessions)
    html = await editor.page("/admin/quiz/questions")
    rural = html.split('href="/admin/quiz/questions/poverty-line-rural-2026"')[1].split("</tr>")[0]
    urban = html.split('href="/admin/quiz/questions/poverty-line-urban-2026"')[1].split("</tr>")[0]
    assert "<td>3</td>" in rural and "67%" in rural
    assert "<td>2</td>" in urban and "50%" in urban
    assert "poverty-line-2022-2026" in rural  # the rule "until 31/12/2026" it states
    untouched = html.split('href="/admin/quiz/questions/poverty-line-rural-2027"')[1].split("</tr>")[0]
    assert "<td>0</td>" in untouched and "—" in untouched
    assert "poverty-standard-2027-new" in untouched and "đang dùng" in untouched
    assert 'href="/admin/quiz/questions/new"' in html
    assert "/admin/quiz/questions" in await editor.page("/admin/quiz")


async def test_commune_staff_may_not_see_or_edit_questions_and_unknown_ids_are_404(settings, sessions, aiohttp_client) -> None:
    officer = await editor_of(create_app(settings), aiohttp_client, sessions, StaffRole.commune, COMMUNE)
    assert "/admin/quiz/questions" not in await officer.page("/admin/quiz")
    for path in ("/admin/quiz/questions", "/admin/quiz/questions/new", "/admin/quiz/questions/poverty-line-rural-2026"):
        assert (await officer.get(path)).status == 403, path
    assert (await officer.post("/admin/quiz/questions/new", question_form())).status == 403
    assert (await officer.post("/admin/quiz/questions/poverty-line-rural-2026/publish", {"action": "unpublish"})).status == 403
    admin = await editor_of(create_app(settings), aiohttp_client, sessions, StaffRole.admin)
    assert (await admin.get("/admin/quiz/questions/no-such-question")).status == 404
    assert (await admin.post("/admin/quiz/questions/no-such-question", question_form())).status == 404
    assert (await admin.post("/admin/quiz/questions/no-such-question/publish", {"action": "publish"})).status == 404
    assert (await admin.post("/admin/quiz/questions/poverty-line-rural-2026/publish", {"action": "drop"})).status == 400
    async with sessions() as session:
        assert (await session.get(QuizQuestionRow, "poverty-line-rural-2026")).published
        assert await session.get(QuizQuestionRow, NEW_ID) is None


async def test_saving_publishing_and_counting_answers_on_both_backends(db_sessions) -> None:
    now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    async with db_sessions() as session:
        last = max((row.position for row in await quiz_repo.all_questions(session)), default=0)
        saved = await quiz_repo.save_question(session, QuizQuestionRow(id="made-here", texts={}, answer=1, position=0), now)
        assert saved.position == last + 1
        edited = await quiz_repo.save_question(session, QuizQuestionRow(id="made-here", texts={"vi": {}}, answer=0, position=0), now)
        assert (edited.position, edited.answer, edited.texts) == (last + 1, 0, {"vi": {}})
        await quiz_repo.set_question_published(session, edited, False, now)
        assert "made-here" not in {row.id for row in await quiz_repo.published_questions(session)}
        citizen = Citizen(channel="test", channel_user_id="counts", created_at=now, last_seen_at=now)
        session.add(citizen)
        await session.flush()
        played = await quiz_repo.start_play(session, citizen, ["made-here", "other"], now)
        for choice in (0, 3):
            await quiz_repo.record_answer(session, played, choice, False, now, None)
        anonymous = QuizPlay(question_ids=["made-here", "other"], started_at=now)  # a citizen who deleted their data
        session.add(anonymous)
        await quiz_repo.record_answer(session, anonymous, 1, False, now, None)
        await session.flush()
        counts = await quiz_repo.answer_counts(session, {"made-here": 0, "other": 2})
        await session.commit()
    assert counts["made-here"] == quiz_repo.AnswerCount(2, 1) and counts["other"] == quiz_repo.AnswerCount(1, 0)
    assert counts["made-here"].share_right == 0.5 and quiz_repo.AnswerCount(0, 0).share_right == 0.0
