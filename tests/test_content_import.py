"""`content import` and the dashboard: FAQ entries, stories and quiz questions staff saved in the
dashboard are kept as they are (and reported), the rest is written from the files again; with
`--overwrite` the files win. And migration 0014 finds the edits made before it in the audit log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import update
from sqlmodel import select

from bot.app import create_app
from bot.config import Settings
from content.importer import import_database
from content.quiz import load_quiz
from storage.db import SessionFactory, create_engine
from storage.migrate import upgrade
from storage.models import FaqRow, QuizQuestionRow, StaffRole, StoryRow
from storage.types import UTCDateTime
from tests.conftest import on_postgres, sqlite_url
from tests.dashboard import StaffClient, add_staff, sign_in

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
EDITED_FAQ, UNPUBLISHED_FAQ, UNTOUCHED_FAQ = "poverty-line-2022-2026", "tuition-free-public-school", "loan-rate-poor"
EDITED_STORY, UNTOUCHED_STORY = "bo-nuoi-ea-sup", "hoc-nghe-may-krong-bong"
EDITED_QUESTION, UNTOUCHED_QUESTION, NEW_QUESTION = "poverty-line-rural-2027", "poverty-line-rural-2026", "bhyt-ho-ngheo"
ADDED = " Xem thêm tại UBND xã."
KEPT = "(content import --overwrite replaces them with the files)"


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def faq_form(row: FaqRow, **changes: str) -> dict[str, str]:
    """The edit form of a stored FAQ entry as the dashboard posts it, with `changes`."""
    form = {"topic": row.topic, "valid_from": _day(row.valid_from), "valid_until": _day(row.valid_until),
            "replaced_by": row.replaced_by or "", "reviewed_on": _day(row.reviewed_on), "action": "save"}
    form |= {"published": "1"} if row.published else {}
    form |= {"needs_review": "1"} if row.needs_review else {}
    for locale, text in row.texts.items():
        form |= {f"{locale}_question": text["question"], f"{locale}_answer": text["answer"],
                 f"{locale}_alternatives": "\n".join(text.get("alternatives", [])), f"{locale}_keywords": "\n".join(text.get("keywords", []))}
    for number, source in enumerate(row.sources):
        form |= {f"source_{number}_document": source["document"], f"source_{number}_date": source["date"] or "",
                 f"source_{number}_url": source["url"] or ""}
    return form | changes


def story_form(row: StoryRow, **changes: str) -> dict[str, str]:
    """The edit form of a stored story, with `changes`."""
    form = {"id": row.id, "commune": row.commune or "", "tags": ", ".join(row.tags), "action": "save"}
    form |= {"published": "1"} if row.published else {}
    form |= {"illustrative": "1"} if row.illustrative else {}
    for locale, text in row.texts.items():
        form |= {f"{locale}_{name}": value for name, value in text.items()}
    return form | changes


def question_form(texts: dict[str, Any], answer: int, faq_id: str, topic: str, **changes: str) -> dict[str, str]:
    """The form of a quiz question: choices in rows 0, 1, …; published."""
    form = {"topic": topic, "faq_id": faq_id, "answer": str(answer), "published": "1", "action": "save"}
    for locale, text in texts.items():
        form |= {f"{locale}_question": text["question"], f"{locale}_explanation": text["explanation"]}
        form |= {f"{locale}_choice_{index}": choice for index, choice in enumerate([*text["choices"], "", "", "", ""][:4])}
    return form | changes


NEW_QUESTION_FORM = question_form(
    {"vi": {"question": "Hộ nghèo được Nhà nước hỗ trợ bao nhiêu phần trăm tiền mua thẻ BHYT?", "choices": ["50%", "100%"],
            "explanation": "Người thuộc hộ nghèo được cấp thẻ BHYT miễn phí."},
     "en": {"question": "How much of a poor household's health insurance card does the State pay?", "choices": ["50%", "100%"],
            "explanation": "People of poor households get a free health insurance card."}},
    1, "poverty-standard-2027-new", "poverty_standard", id=NEW_QUESTION,
)


@pytest.fixture
async def editor(settings: Settings, sessions: SessionFactory, aiohttp_client: Any) -> StaffClient:
    await add_staff(sessions, "lan", StaffRole.province)
    return await sign_in(await aiohttp_client(create_app(settings, clock=lambda: NOW)), "lan")


async def edit_in_the_dashboard(editor: StaffClient, sessions: SessionFactory) -> None:
    """What staff do: edit an FAQ entry, unpublish another, edit a story, edit a file's quiz question
    and create one."""
    async with sessions() as session:
        faq = await session.get(FaqRow, EDITED_FAQ)
        story = await session.get(StoryRow, EDITED_STORY)
        question = await session.get(QuizQuestionRow, EDITED_QUESTION)
    posts = [
        (f"/admin/content/faq/{EDITED_FAQ}", faq_form(faq, vi_answer=faq.texts["vi"]["answer"] + ADDED)),
        (f"/admin/content/faq/{UNPUBLISHED_FAQ}/publish", {"action": "unpublish"}),
        (f"/admin/content/stories/{EDITED_STORY}", story_form(story, vi_lesson="Bài học sửa trên trang quản trị.")),
        (f"/admin/quiz/questions/{EDITED_QUESTION}", question_form(
            question.texts, question.answer, question.faq_id, question.topic, vi_question="Chuẩn nghèo nông thôn từ năm 2027 là bao nhiêu?")),
        ("/admin/quiz/questions/new", NEW_QUESTION_FORM),
    ]
    for path, form in posts:
        response = await editor.post(path, form)
        assert response.status == 303, (path, await response.text())


async def stored(sessions: SessionFactory, model: type[Any], row_id: str) -> Any:
    async with sessions() as session:
        return await session.get(model, row_id)


def environment(settings: Settings) -> dict[str, str]:
    """The environment of a `python -m bot` process on the test database."""
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=settings.database_url, DATA_DIR=str(settings.data_dir),
               SECRET_KEY="test-secret-key", LOG_LEVEL="INFO")
    return env


async def content_import(settings: Settings, *args: str) -> str:
    """Run `python -m bot content import ARGS` on the test database; its log (stderr)."""
    finished = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "content", "import", *args], cwd=settings.data_dir.parent,
        env=environment(settings), capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stderr


async def test_faq_entries_and_stories_edited_in_the_dashboard_survive_an_import_and_the_rest_is_refreshed(
    settings, sessions, editor, bundle,
) -> None:
    await edit_in_the_dashboard(editor, sessions)
    async with sessions() as session:
        await session.exec(update(FaqRow).where(FaqRow.id == EDITED_FAQ).values(position=999))  # type: ignore[call-overload]
        await session.exec(update(FaqRow).where(FaqRow.id == UNTOUCHED_FAQ).values(  # type: ignore[call-overload]
            texts={"vi": {"question": "cũ", "answer": "cũ"}}, published=False, position=998))
        await session.exec(update(StoryRow).where(StoryRow.id == UNTOUCHED_STORY).values(published=False))  # type: ignore[call-overload]
        await session.commit()

    imported = await import_database(settings.database_url, now=LATER)

    faq = await stored(sessions, FaqRow, EDITED_FAQ)
    assert faq.texts["vi"]["answer"].endswith(ADDED) and (faq.position, faq.edited_at) == (999, NOW)
    hidden = await stored(sessions, FaqRow, UNPUBLISHED_FAQ)
    assert (hidden.published, hidden.edited_at) == (False, NOW)
    story = await stored(sessions, StoryRow, EDITED_STORY)
    assert (story.texts["vi"]["lesson"], story.edited_at) == ("Bài học sửa trên trang quản trị.", NOW)

    ids = [entry.id for entry in bundle.faqs]
    untouched = await stored(sessions, FaqRow, UNTOUCHED_FAQ)
    file_entry = bundle.faq_by_id[UNTOUCHED_FAQ]
    assert untouched.texts["vi"]["answer"] == file_entry.text("vi").answer
    assert (untouched.published, untouched.position, untouched.updated_at, untouched.edited_at) == (True, ids.index(UNTOUCHED_FAQ), LATER, None)
    assert (await stored(sessions, StoryRow, UNTOUCHED_STORY)).published
    kept = [entry_id for entry_id in ids if entry_id in (EDITED_FAQ, UNPUBLISHED_FAQ)]
    assert (imported.kept["faqs"], imported.kept["stories"]) == (kept, [EDITED_STORY])
    assert imported.counts["faqs"] == len(bundle.faqs) - 2 and imported.counts["stories"] == len(bundle.stories) - 1


async def test_a_question_made_in_the_dashboard_stays_published_and_an_edited_one_keeps_its_edit(
    settings, sessions, editor, bundle,
) -> None:
    await edit_in_the_dashboard(editor, sessions)
    async with sessions() as session:
        session.add(QuizQuestionRow(id="from-an-older-file", texts={}, published=True, position=90, updated_at=NOW))
        await session.exec(update(QuizQuestionRow).where(QuizQuestionRow.id == UNTOUCHED_QUESTION).values(published=False))  # type: ignore[call-overload]
        await session.commit()

    imported = await import_database(settings.database_url, now=LATER)

    made = await stored(sessions, QuizQuestionRow, NEW_QUESTION)
    assert (made.published, made.edited_at) == (True, NOW)
    edited = await stored(sessions, QuizQuestionRow, EDITED_QUESTION)
    assert (edited.texts["vi"]["question"], edited.edited_at) == ("Chuẩn nghèo nông thôn từ năm 2027 là bao nhiêu?", NOW)
    assert not (await stored(sessions, QuizQuestionRow, "from-an-older-file")).published
    assert (await stored(sessions, QuizQuestionRow, UNTOUCHED_QUESTION)).published
    assert imported.kept["quiz questions"] == [EDITED_QUESTION]
    assert imported.counts["quiz questions"] == len(load_quiz(faqs=bundle.faqs, topics=bundle.topics)) - 1


async def test_the_command_reports_the_kept_ids_and_overwrite_writes_the_files_over_the_edits(
    settings, sessions, editor, bundle,
) -> None:
    await edit_in_the_dashboard(editor, sessions)
    ids = [entry.id for entry in bundle.faqs]
    faqs = ", ".join(entry_id for entry_id in ids if entry_id in (EDITED_FAQ, UNPUBLISHED_FAQ))

    log = await content_import(settings)
    assert f"kept 2 FAQ entries edited in the dashboard: {faqs} {KEPT}" in log
    assert f"kept 1 story edited in the dashboard: {EDITED_STORY} {KEPT}" in log
    assert f"kept 1 quiz question edited in the dashboard: {EDITED_QUESTION} {KEPT}" in log
    assert (await stored(sessions, FaqRow, EDITED_FAQ)).texts["vi"]["answer"].endswith(ADDED)
    assert (await stored(sessions, QuizQuestionRow, NEW_QUESTION)).published

    log = await content_import(settings, "--overwrite")
    assert "kept" not in log and "imported" in log
    faq = await stored(sessions, FaqRow, EDITED_FAQ)
    assert (faq.texts["vi"]["answer"], faq.position, faq.edited_at) == (bundle.faq_by_id[EDITED_FAQ].text("vi").answer, ids.index(EDITED_FAQ), None)
    hidden = await stored(sessions, FaqRow, UNPUBLISHED_FAQ)
    assert (hidden.published, hidden.edited_at) == (True, None)
    story = await stored(sessions, StoryRow, EDITED_STORY)
    file_story = next(item for item in bundle.stories if item.id == EDITED_STORY)
    assert (story.texts["vi"]["lesson"], story.edited_at) == (file_story.texts["vi"].lesson, None)
    question = await stored(sessions, QuizQuestionRow, EDITED_QUESTION)
    file_question = next(item for item in load_quiz(faqs=bundle.faqs, topics=bundle.topics) if item.id == EDITED_QUESTION)
    assert (question.texts["vi"]["question"], question.edited_at) == (file_question.text("vi").question, None)
    made = await stored(sessions, QuizQuestionRow, NEW_QUESTION)
    assert (made.published, made.edited_at) == (False, None)
    async with sessions() as session:
        edited = (await session.exec(select(FaqRow.id).where(FaqRow.edited_at != None))).all()  # noqa: E711
    assert edited == []


# ---------------------------------------------------------------- migration 0014


@pytest.fixture
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables: SQLite, or PostgreSQL with TEST_DATABASE=postgresql."""
    if on_postgres():
        return str(request.getfixturevalue("empty_postgres_url"))
    return sqlite_url(tmp_path / "blank.db")


async def test_the_upgrade_marks_what_the_dashboard_saved_after_the_last_import(blank_url: str) -> None:
    """Before 0014, the audit log is the only trace of an edit: a row whose latest dashboard action is
    not older than the row was last written by the dashboard."""
    await asyncio.to_thread(upgrade, blank_url, "0013")
    stamp = UTCDateTime(timezone=True)
    tables = {
        "faq_entry": sa.table("faq_entry", sa.column("id"), sa.column("topic"), sa.column("texts", sa.JSON), sa.column("sources", sa.JSON),
                              sa.column("needs_review"), sa.column("published"), sa.column("position"), sa.column("updated_at", stamp)),
        "story": sa.table("story", sa.column("id"), sa.column("texts", sa.JSON), sa.column("tags", sa.JSON), sa.column("published"),
                          sa.column("illustrative"), sa.column("position"), sa.column("updated_at", stamp)),
        "quiz_question": sa.table("quiz_question", sa.column("id"), sa.column("texts", sa.JSON), sa.column("answer"), sa.column("faq_id"),
                                  sa.column("topic"), sa.column("published"), sa.column("position"), sa.column("updated_at", stamp)),
    }
    common = {
        "faq_entry": {"topic": "t", "texts": {}, "sources": [], "needs_review": False, "published": True, "position": 0},
        "story": {"texts": {}, "tags": [], "published": True, "illustrative": False, "position": 0},
        "quiz_question": {"texts": {}, "answer": 0, "faq_id": "", "topic": "", "published": True, "position": 0},
    }
    audit = sa.table("audit_log", sa.column("at", stamp), sa.column("actor"), sa.column("action"), sa.column("object_type"),
                     sa.column("object_id"), sa.column("detail", sa.JSON))
    saved = NOW + timedelta(microseconds=3)  # a save stamps the row a little after its audit entry
    engine = create_engine(blank_url)
    try:
        async with engine.begin() as connection:
            for name, object_type in (("faq_entry", "faq"), ("story", "story"), ("quiz_question", "quiz_question")):
                await connection.execute(sa.insert(tables[name]), [
                    {**common[name], "id": "edited", "updated_at": saved},
                    {**common[name], "id": "imported-since", "updated_at": LATER},
                    {**common[name], "id": "never-edited", "updated_at": NOW},
                ])
                await connection.execute(sa.insert(audit), [
                    {"at": NOW, "actor": "lan", "action": "edit", "object_type": object_type, "object_id": row_id, "detail": {}}
                    for row_id in ("edited", "imported-since")
                ])
        await engine.dispose()
        await asyncio.to_thread(upgrade, blank_url)
        async with engine.connect() as connection:
            for model in (FaqRow, StoryRow, QuizQuestionRow):
                rows = (await connection.execute(select(model.id, model.edited_at).order_by(model.id))).all()
                assert [tuple(row) for row in rows] == [("edited", NOW), ("imported-since", None), ("never-edited", None)], model
    finally:
        await engine.dispose()
