"""Dashboard content screens: the entries to review soon, FAQ entries and stories (create, edit,
check, preview, publish), the search index refreshing in this process and in another one, and
unanswered questions."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from bot import keys
from bot.app import create_app
from content.check import entries_to_review
from content.importer import load_bundle
from content.library import Library
from content.refresh import refresh_if_changed, watch
from content.search import Status
from storage.content import list_faqs, record_unanswered
from storage.content_edit import content_version
from storage.models import AuditEntry, FaqRow, StaffRole, StoryRow, UnansweredQuestion
from tests.dashboard import COMMUNE, add_staff, sign_in

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
QUESTION = "Hộ nghèo có được hỗ trợ tiền mua giống cà phê không?"


def faq_form(**changes: str) -> dict[str, str]:
    """A valid new FAQ entry as the form posts it."""
    form = {
        "id": "ho-tro-giong-ca-phe", "topic": "livelihoods",
        "vi_question": QUESTION,
        "vi_answer": "Có. Hộ nghèo được hỗ trợ giống cây trồng theo dự án đa dạng hóa sinh kế; hỏi cán bộ xã để đăng ký.",
        "vi_alternatives": "ho tro giong cafe\nxin giong ca phe", "vi_keywords": "giống cà phê",
        "en_question": "Can poor households get support to buy coffee seedlings?",
        "en_answer": "Yes. Poor households get seedlings under the livelihood project; ask the commune officer to apply.",
        "source_0_document": "Quyết định 90/QĐ-TTg", "source_0_date": "2022-01-18",
        "valid_from": "", "valid_until": "", "reviewed_on": "02/03/2026", "published": "1", "action": "save",
    }
    form.update(changes)
    return form


@pytest.fixture
async def app(settings):  # type: ignore[no-untyped-def]
    return create_app(settings, clock=lambda: NOW)


@pytest.fixture
async def editor(app, aiohttp_client, sessions):  # type: ignore[no-untyped-def]
    await add_staff(sessions, "lan", StaffRole.province)
    return await sign_in(await aiohttp_client(app), "lan")


async def asked(sessions, text: str = QUESTION, count: int = 1, locale: str = "vi") -> int:  # type: ignore[no-untyped-def]
    """Record an unanswered question `count` times; its id."""
    async with sessions() as session:
        for _ in range(count):
            row = await record_unanswered(session, text.lower(), text, locale, now=NOW)
        await session.commit()
        return row.id


async def audit_actions(sessions) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return [(e.action, e.object_id) for e in (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()]


async def test_the_list_shows_entries_and_stories_and_filters_them(editor) -> None:
    html = await editor.page("/admin/content")
    assert "Chuẩn hộ nghèo" in html or "chuẩn nghèo" in html.lower()
    assert "Câu chuyện" in html
    filtered = await editor.page("/admin/content?q=chuan+ngheo&topic=poverty_standard")
    assert filtered.count("/admin/content/faq/") < html.count("/admin/content/faq/")
    assert "/admin/content/faq/" in filtered


async def test_the_list_shows_what_to_review_before_it_ends_as_content_check_does(editor, sessions) -> None:
    async with sessions() as session:
        plain = [row for row in await list_faqs(session)
                 if row.published and not (row.valid_from or row.valid_until or row.replaced_by or row.needs_review)]
        ending, waiting, later, successor = plain[:4]
        ending.valid_until, ending.replaced_by = date(2026, 4, 30), successor.id  # within 60 days of 02/03/2026
        waiting.needs_review = True
        later.valid_until = date(2026, 5, 2)  # day 61
        session.add_all([ending, waiting, later])
        await session.commit()
        expected = [item.id for item in entries_to_review((await load_bundle(session)).faqs, date(2026, 3, 2))]
    html = await editor.page("/admin/content")
    section = html.split('id="review"')[1].split('id="faq"')[0]
    assert "Cần rà soát trước ngày 01/05/2026" in section
    assert re.findall(r'<code class="muted">([a-z0-9-]+)</code>', section) == expected
    assert {ending.id, waiting.id} <= set(expected) and later.id not in expected
    row = section.split(f'href="/admin/content/faq/{ending.id}"')[1].split("</tr>")[0]
    assert "30/04/2026" in row and f'href="/admin/content/faq/{successor.id}"' in row and "sắp hết hiệu lực" in row
    row = section.split(f'href="/admin/content/faq/{waiting.id}"')[1].split("</tr>")[0]
    assert "cần rà soát" in row
    assert waiting.id in await editor.page(f"/admin/content/faq/{waiting.id}")  # still there to edit


async def test_a_new_entry_is_checked_saved_logged_and_answered_at_once(app, editor, sessions) -> None:
    library = app[keys.SERVICES].library
    assert library.index.search(QUESTION, on=NOW.date()).status is not Status.answer
    response = await editor.post("/admin/content/faq/new", faq_form())
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/admin/content/faq/ho-tro-giong-ca-phe?saved=1"
    result = app[keys.SERVICES].library.index.search("ho tro giong ca phe cho ho ngheo", on=NOW.date())
    assert result.best is not None and result.best.entry.id == "ho-tro-giong-ca-phe"
    async with sessions() as session:
        row = await session.get(FaqRow, "ho-tro-giong-ca-phe")
        assert row.sources == [{"document": "Quyết định 90/QĐ-TTg", "date": "2022-01-18", "url": None}]
        assert row.reviewed_on.isoformat() == "2026-03-02" and row.texts["vi"]["alternatives"] == ["ho tro giong cafe", "xin giong ca phe"]
    page = await editor.page("/admin/content/faq/ho-tro-giong-ca-phe?saved=1")
    assert "Đã lưu" in page and "Nguồn: Quyết định 90/QĐ-TTg (18/01/2022)" in page and "Source: Quyết định 90/QĐ-TTg" in page
    assert ("content.create", "ho-tro-giong-ca-phe") in await audit_actions(sessions)


async def test_bad_input_is_shown_beside_the_fields_not_a_500(editor, sessions) -> None:
    response = await editor.post("/admin/content/faq/new", faq_form(
        id="Bad Id", vi_answer="ngắn", source_0_document="", source_0_date="", valid_from="2027-01-01", valid_until="2026-01-01",
    ))
    assert response.status == 400
    html = await response.text()
    assert "Dùng chữ thường" in html and "Cần ít nhất 10 ký tự" in html and "Cần ít nhất một nguồn" in html
    response = await editor.post("/admin/content/faq/new", faq_form(source_0_date="31/02/2026"))
    assert response.status == 400 and "Không phải ngày hợp lệ" in await response.text()
    response = await editor.post("/admin/content/faq/new", faq_form(valid_from="01/01/2027", valid_until="2026-01-01"))
    assert response.status == 400 and "Không được trước ngày bắt đầu" in await response.text()
    response = await editor.post("/admin/content/faq/new", faq_form(vi_answer="Dài quá. " * 100))
    assert response.status == 400 and "tối đa 700" in await response.text()
    response = await editor.post("/admin/content/faq/new", faq_form(id="poverty-line-2022-2026", topic="nope"))
    html = await response.text()
    assert "Mã này đã được dùng" in html and "Hãy chọn một chủ đề" in html
    assert 'value="Hộ nghèo có được hỗ trợ tiền mua giống cà phê không?"' in html  # what was typed stays
    async with sessions() as session:
        assert await session.get(FaqRow, "ho-tro-giong-ca-phe") is None


async def test_editing_an_entry_keeps_its_place_and_preview_saves_nothing(app, editor, sessions) -> None:
    html = await editor.page("/admin/content/faq/poverty-line-2022-2026")
    assert "Nguồn:" in html and "👍" in html
    async with sessions() as session:
        before = await session.get(FaqRow, "poverty-line-2022-2026")
        position, answer = before.position, before.texts["vi"]["answer"]
    form = {"topic": before.topic, "action": "preview", "published": "1"}
    for locale in ("vi", "en"):
        for name in ("question", "answer"):
            form[f"{locale}_{name}"] = before.texts[locale][name]
        form[f"{locale}_alternatives"] = "\n".join(before.texts[locale].get("alternatives", []))
    for number, source in enumerate(before.sources):
        form[f"source_{number}_document"] = source["document"]
        form[f"source_{number}_date"] = source["date"] or ""
    form["valid_until"] = before.valid_until.isoformat() if before.valid_until else ""
    form["replaced_by"] = before.replaced_by or ""
    form["vi_answer"] = answer + " Xem thêm tại UBND xã."
    preview = await editor.post("/admin/content/faq/poverty-line-2022-2026", form)
    assert preview.status == 200 and "Xem trước thay đổi (chưa lưu)" in await preview.text()
    async with sessions() as session:
        assert (await session.get(FaqRow, "poverty-line-2022-2026")).texts["vi"]["answer"] == answer
    saved = await editor.post("/admin/content/faq/poverty-line-2022-2026", {**form, "action": "save"})
    assert saved.status == 303
    async with sessions() as session:
        after = await session.get(FaqRow, "poverty-line-2022-2026")
        assert after.position == position and after.texts["vi"]["answer"].endswith("Xem thêm tại UBND xã.")
    assert app[keys.SERVICES].library.faq("poverty-line-2022-2026").text("vi").answer.endswith("UBND xã.")
    assert ("content.edit", "poverty-line-2022-2026") in await audit_actions(sessions)


async def test_unpublish_hides_an_entry_from_the_search_and_publish_brings_it_back(app, editor, sessions) -> None:
    library = app[keys.SERVICES].library
    question = library.faq("poverty-line-2022-2026").text("vi").question
    assert library.index.search(question, on=NOW.date()).best.entry.id == "poverty-line-2022-2026"
    assert (await editor.post("/admin/content/faq/poverty-line-2022-2026/publish", {"action": "unpublish"})).status == 303
    best = library.index.search(question, on=NOW.date()).best
    assert best is None or best.entry.id != "poverty-line-2022-2026"
    assert "Xuất bản" in await editor.page("/admin/content/faq/poverty-line-2022-2026")
    assert (await editor.post("/admin/content/faq/poverty-line-2022-2026/publish", {"action": "publish"})).status == 303
    assert library.index.search(question, on=NOW.date()).best.entry.id == "poverty-line-2022-2026"
    actions = await audit_actions(sessions)
    assert ("content.unpublish", "poverty-line-2022-2026") in actions and ("content.publish", "poverty-line-2022-2026") in actions
    assert (await editor.post("/admin/content/faq/poverty-line-2022-2026/publish", {"action": "delete"})).status == 400


async def test_stories_are_created_checked_previewed_and_published(app, editor, sessions) -> None:
    body = "Gia đình chị H'Linh vay vốn ưu đãi để nuôi bò sinh sản, được cán bộ khuyến nông hướng dẫn chăm sóc. " * 2
    form = {"id": "nuoi-bo-hoa-phu", "commune": COMMUNE, "tags": "chăn nuôi, vay vốn", "published": "1",
            "vi_title": "Thoát nghèo nhờ nuôi bò", "vi_summary": "Một hộ ở Hòa Phú thoát nghèo sau ba năm.",
            "vi_body": body, "vi_lesson": "Vay đúng mục đích.", "action": "preview"}
    preview = await editor.post("/admin/content/stories/new", form)
    html = await preview.text()
    assert preview.status == 200 and "📖 Thoát nghèo nhờ nuôi bò" in html and "📍" in html
    bad = await editor.post("/admin/content/stories/new", {**form, "vi_body": "ngắn", "action": "save"})
    assert bad.status == 400 and "Cần ít nhất 50 ký tự" in await bad.text()
    bad = await editor.post("/admin/content/stories/new", {**form, "commune": "99999", "action": "save"})
    assert bad.status == 400 and "Hãy chọn một xã" in await bad.text()
    saved = await editor.post("/admin/content/stories/new", {**form, "action": "save"})
    assert saved.status == 303
    assert app[keys.SERVICES].library.story("nuoi-bo-hoa-phu") is not None
    assert (await editor.post("/admin/content/stories/nuoi-bo-hoa-phu/publish", {"action": "unpublish"})).status == 303
    assert app[keys.SERVICES].library.story("nuoi-bo-hoa-phu") is None
    async with sessions() as session:
        assert (await session.get(StoryRow, "nuoi-bo-hoa-phu")).tags == ["chăn nuôi", "vay vốn"]
    edit = await editor.page("/admin/content/stories/nuoi-bo-hoa-phu")
    assert "Thoát nghèo nhờ nuôi bò" in edit
    actions = await audit_actions(sessions)
    assert ("content.create", "nuoi-bo-hoa-phu") in actions and ("content.unpublish", "nuoi-bo-hoa-phu") in actions


async def test_the_story_preview_opens_an_illustrative_story_with_its_label(editor) -> None:
    body = "Gia đình anh Y B. vay vốn hộ nghèo trồng lại vườn tiêu, vào hợp tác xã để bán chung, rồi thoát nghèo. " * 2
    form = {"id": "ho-tieu-hoa-phu", "commune": COMMUNE, "tags": "", "published": "1", "illustrative": "1",
            "vi_title": "Vườn tiêu hồi sinh", "vi_summary": "Một hộ ở Hòa Phú thoát nghèo nhờ hồ tiêu.",
            "vi_body": body, "vi_lesson": "Vào hợp tác xã.", "en_title": "A pepper garden revived",
            "en_summary": "A household in Hòa Phú left poverty with pepper.", "en_body": body,
            "en_lesson": "Join a cooperative.", "action": "preview"}
    html = await (await editor.post("/admin/content/stories/new", form)).text()
    vi, en = html.split('<section class="chat" lang="vi">')[1].split('<section class="chat" lang="en">')
    label = '<p class="bubble-text">Ví dụ minh họa: câu chuyện được viết để giới thiệu chính sách, không phải một gia đình có thật.'
    assert label + "\n\n📖 Vườn tiêu hồi sinh" in vi
    assert '<p class="bubble-text">Illustrative example: written to show how the support works, not a real family.\n\n📖 A pepper garden revived' in en
    plain = await (await editor.post("/admin/content/stories/new", {k: v for k, v in form.items() if k != "illustrative"})).text()
    assert '<p class="bubble-text">📖 Vườn tiêu hồi sinh' in plain and "Ví dụ minh họa:" not in plain


async def test_unknown_objects_are_404(editor) -> None:
    for path in ("/admin/content/faq/no-such-entry", "/admin/content/stories/no-such-story",
                 "/admin/content/faq/new?question=999", "/admin/unanswered/999/alternative"):
        response = await editor.get(path)
        assert response.status == 404, path
    assert (await editor.post("/admin/content/faq/no-such-entry", faq_form())).status == 404
    assert (await editor.post("/admin/content/faq/no-such-entry/publish", {"action": "publish"})).status == 404
    assert (await editor.post("/admin/unanswered/999/alternative", {"faq_id": "poverty-line-2022-2026"})).status == 404
    assert (await editor.post("/admin/unanswered/999/dismiss")).status == 404


async def test_commune_staff_see_unanswered_questions_but_cannot_edit_content(app, aiohttp_client, sessions) -> None:
    await add_staff(sessions, "xahoaphu", StaffRole.commune, COMMUNE)
    officer = await sign_in(await aiohttp_client(app), "xahoaphu")
    question = await asked(sessions)
    html = await officer.page("/admin/unanswered")
    assert QUESTION in html and "/admin/content/faq/new" not in html
    for path in ("/admin/content", "/admin/content/faq/new", "/admin/content/faq/poverty-line-2022-2026",
                 "/admin/content/stories/new", f"/admin/unanswered/{question}/alternative"):
        assert (await officer.get(path)).status == 403, path
    for path in ("/admin/content/faq/new", "/admin/content/faq/poverty-line-2022-2026/publish", f"/admin/unanswered/{question}/dismiss"):
        assert (await officer.post(path, faq_form())).status == 403, path


async def test_unanswered_questions_most_frequent_first_and_paginated(editor, sessions) -> None:
    await asked(sessions, "cau hoi it gap", 1)
    await asked(sessions, "cau hoi hay gap", 5)
    for number in range(30):
        await asked(sessions, f"cau hoi so {number}", 2)
    first = await editor.page("/admin/unanswered")
    assert first.index("cau hoi hay gap") < first.index("cau hoi so")
    assert "cau hoi it gap" not in first and "Trang 1/2" in first
    second = await editor.page("/admin/unanswered?page=2")
    assert "cau hoi it gap" in second and "cau hoi hay gap" not in second
    assert (await editor.get("/admin/unanswered?page=abc")).status == 200


async def test_an_unanswered_question_becomes_a_new_entry(app, editor, sessions) -> None:
    question = await asked(sessions, count=3)
    form = await editor.page(f"/admin/content/faq/new?question={question}")
    assert f'value="{QUESTION}"' in form and f'name="from_question" value="{question}"' in form
    response = await editor.post("/admin/content/faq/new", faq_form(from_question=str(question)))
    assert response.status == 303
    async with sessions() as session:
        assert await session.get(UnansweredQuestion, question) is None
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "content.create"))).one()
        assert entry.detail["from_question"] == QUESTION
    result = app[keys.SERVICES].library.index.search(QUESTION, on=NOW.date())
    assert result.status is Status.answer and result.best.entry.id == "ho-tro-giong-ca-phe"


async def test_an_unanswered_question_becomes_another_wording_of_an_entry(app, editor, sessions) -> None:
    text = "muc thu nhap bao nhieu thi duoc xep vao dien ngheo o nong thon vay"
    question = await asked(sessions, text)
    page = await editor.page(f"/admin/unanswered/{question}/alternative")
    assert "poverty-line-2022-2026" in page and "Thêm vào đây" in page
    assert (await editor.page(f"/admin/unanswered/{question}/alternative?q=vay+von")).count("<tr>") > 1
    assert (await editor.post(f"/admin/unanswered/{question}/alternative", {"faq_id": "nope"})).status == 303
    response = await editor.post(f"/admin/unanswered/{question}/alternative", {"faq_id": "poverty-line-2022-2026"})
    assert response.status == 303 and response.headers["Location"].startswith("/admin/unanswered?done=poverty-line-2022-2026")
    async with sessions() as session:
        assert await session.get(UnansweredQuestion, question) is None
        assert text in (await session.get(FaqRow, "poverty-line-2022-2026")).texts["vi"]["alternatives"]
    result = app[keys.SERVICES].library.index.search(text, on=NOW.date())
    assert result.status is Status.answer and result.best.entry.id == "poverty-line-2022-2026"
    assert "Đã thêm vào mục poverty-line-2022-2026" in await editor.page("/admin/unanswered?done=poverty-line-2022-2026")


async def test_a_question_can_be_dismissed(editor, sessions) -> None:
    question = await asked(sessions, "alo alo test")
    assert (await editor.post(f"/admin/unanswered/{question}/dismiss")).status == 303
    async with sessions() as session:
        assert await session.get(UnansweredQuestion, question) is None
    assert ("unanswered.dismiss", str(question)) in await audit_actions(sessions)


async def test_another_process_rebuilds_its_index_when_the_stored_version_changes(editor, sessions) -> None:
    async with sessions() as session:  # the library of a second bot process on the same database
        library = Library(await load_bundle(session), await content_version(session))
        assert not await refresh_if_changed(session, library)
    assert (await editor.post("/admin/content/faq/new", faq_form())).status == 303
    async with sessions() as session:
        assert await refresh_if_changed(session, library)
        assert not await refresh_if_changed(session, library)
    assert library.index.search(QUESTION, on=NOW.date()).best.entry.id == "ho-tro-giong-ca-phe"


async def test_every_save_changes_the_version_even_when_the_clock_stands_still(editor, sessions) -> None:
    async def version() -> str:
        async with sessions() as session:
            return await content_version(session)

    versions = [await version()]
    assert (await editor.post("/admin/content/faq/new", faq_form())).status == 303
    versions.append(await version())
    for action in ("unpublish", "publish"):
        assert (await editor.post("/admin/content/faq/ho-tro-giong-ca-phe/publish", {"action": action})).status == 303
        versions.append(await version())
    assert len(set(versions)) == 4


async def test_the_watcher_picks_up_a_change_within_its_interval(editor, sessions) -> None:
    async with sessions() as session:
        library = Library(await load_bundle(session))
    task = asyncio.create_task(watch(sessions, library, every=0.05))
    try:
        for _ in range(100):  # the first check builds the version (a busy machine may take a while)
            await asyncio.sleep(0.05)
            if library.version is not None:
                break
        first = library.version
        assert first is not None
        assert (await editor.post("/admin/content/faq/new", faq_form())).status == 303
        for _ in range(100):
            await asyncio.sleep(0.05)
            if library.faq("ho-tro-giong-ca-phe") is not None:
                break
        assert library.faq("ho-tro-giong-ca-phe") is not None and library.version != first
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_pages_are_english_on_request(editor) -> None:
    html = await editor.page("/admin/content/faq/new?lang=en")
    assert "New FAQ entry" in html and "Preview" in html
