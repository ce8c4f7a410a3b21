"""Policy Q&A end to end: answers, "did you mean", unanswered questions, ratings, browsing, stories."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from bot.app import create_app
from bot.features import build_router
from content.library import Library
from content.model import ContentBundle
from handlers.engine import Engine
from handlers.stories import LABEL_LIMIT
from storage.models import FaqUsageRow, UnansweredQuestion
from tests.channel import InMemoryChannel
from tests.conftest import telegram_settings
from tests.drivers import TelegramDriver

ROOT = Path(__file__).resolve().parent.parent
STORY_LABEL = "Ví dụ minh họa: câu chuyện được viết để giới thiệu chính sách, không phải một gia đình có thật."
LIST_LABEL = ("Ví dụ minh họa: các câu chuyện dưới đây được viết để giới thiệu chính sách, không phải chuyện của "
              "những gia đình có thật.")


async def test_question_without_diacritics_is_answered_with_its_source_on_telegram(settings, tg, aiohttp_client, sessions) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg)
    [answer] = await driver.send("chuan ngheo hien nay la bao nhieu vay ad")
    assert "1.500.000" in answer.text and "Nguồn: Nghị định 07/2021/NĐ-CP (27/01/2021)" in answer.text
    assert ("👍 Có ích", "faq:up:poverty-line-2022-2026") in answer.buttons
    assert any(action.startswith("faq:show:") for _, action in answer.buttons), "related questions offered"
    await driver.press("Có ích")
    assert "cảm ơn bà con đã góp ý" in driver.last[-1].text
    async with sessions() as session:
        [stat] = (await session.exec(select(FaqUsageRow).where(FaqUsageRow.faq_id == "poverty-line-2022-2026"))).all()
    assert (stat.shown, stat.helpful) == (1, 1)


async def test_close_call_offers_suggestions_that_work(settings, tg, aiohttp_client) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg)
    [choices] = await driver.send("vay von lai suat bao nhieu")
    assert "Có phải một trong các câu này" in choices.text
    suggested = [action for _, action in choices.buttons if action.startswith("faq:show:")]
    assert 2 <= len(suggested) <= 3
    label = next(label for label, action in choices.buttons if action == suggested[0])
    await driver.press(label)
    assert "Nguồn:" in driver.last[-1].text and "%" in driver.last[-1].text


async def test_unknown_question_is_recorded_and_can_be_forwarded(settings, tg, aiohttp_client, sessions) -> None:
    await aiohttp_client(create_app(telegram_settings(settings, tg)))
    driver = TelegramDriver(tg)
    await driver.send("giá vàng hôm nay bao nhiêu")
    assert "chưa có câu trả lời" in driver.last[-1].text
    await TelegramDriver(tg, user_id=999).send("gia vang hom nay bao nhieu")
    await driver.press("Gửi câu hỏi cho cán bộ")
    assert "đã được chuyển tới cán bộ" in driver.last[-1].text
    async with sessions() as session:
        [row] = (await session.exec(select(UnansweredQuestion))).all()
    assert (row.count, row.forwarded) == (2, 1)
    assert row.text == "gia vang hom nay bao nhieu"


async def test_not_helpful_offers_to_forward(engine, sessions) -> None:
    citizen = InMemoryChannel(engine)
    await citizen.send("Chuẩn nghèo hiện nay là bao nhiêu?")
    await citizen.press("Chưa đúng ý")
    await citizen.press("Gửi câu hỏi cho cán bộ")
    async with sessions() as session:
        [stat] = (await session.exec(select(FaqUsageRow).where(FaqUsageRow.faq_id == "poverty-line-2022-2026"))).all()
        [row] = (await session.exec(select(UnansweredQuestion))).all()
    assert stat.unhelpful == 1 and row.forwarded == 1


async def test_greetings_and_thanks_are_answered_kindly_and_not_recorded(engine, sessions) -> None:
    citizen = InMemoryChannel(engine)
    for text in ("Xin chào ạ", "alo alo", "cảm ơn nhiều nha", "ok", "👍"):
        await citizen.send(text)
        assert "chưa có câu trả lời" not in citizen.text(), text
    async with sessions() as session:
        assert (await session.exec(select(UnansweredQuestion))).all() == []


async def test_browse_topics_then_questions_then_answer(driver) -> None:
    await driver.send("/menu")
    await driver.press("Hỏi đáp chính sách")
    assert "chọn chủ đề" in driver.last[-1].text
    await driver.press("Vay vốn")
    topic = driver.last[-1]
    assert len([a for _, a in topic.buttons if a.startswith("faq:show:")]) == 6
    await driver.press("Xem thêm")
    await driver.press("Quay lại")
    question_label = next(label for label, action in driver.last[-1].buttons if action.startswith("faq:show:"))
    await driver.press(question_label)
    assert "Nguồn:" in driver.last[-1].text


async def test_stories_list_and_one_story(driver) -> None:
    await driver.send("/menu")
    await driver.press("Câu chuyện thoát nghèo")
    listing = driver.last[-1].text
    assert listing.split("\n")[0] == LIST_LABEL, "the shipped stories are invented: the list says so first"
    titles = [label for label, action in driver.last[-1].buttons if action.startswith("story:")]
    assert len(titles) >= 8
    await driver.press(titles[0])
    story = driver.last[-1].text
    label, title = story.split("\n\n")[:2]
    assert label == STORY_LABEL and title.startswith("📖 ") and "💡" in story


async def test_only_invented_stories_are_labelled_and_a_mixed_list_marks_them(sessions, services, bundle) -> None:
    """A real family's story (one staff add with the family's consent) carries no label."""
    real = replace(bundle.stories[0], id="real-family", illustrative=False)
    invented = bundle.stories[1]
    library = Library(ContentBundle(stories=(real, invented)))
    engine = Engine(sessions, build_router(), replace(services, library=library), conversation_ttl=timedelta(hours=72))
    citizen = InMemoryChannel(engine)
    await citizen.act("menu:stories")
    assert citizen.text().split("\n")[0].startswith("Những câu chuyện có ghi “(Minh họa)”")
    assert citizen.labels()[:2] == [real.text("vi").title, f"(Minh họa) {invented.text('vi').title}"[:LABEL_LIMIT]]
    await citizen.act("story:real-family")
    assert citizen.text().startswith("📖 ") and "minh họa" not in citizen.text()
    await citizen.act(f"story:{invented.id}")
    assert citizen.text().split("\n")[0] == STORY_LABEL


async def test_the_rule_in_force_on_the_day_is_the_answer(engine) -> None:
    citizen = InMemoryChannel(engine)
    engine.clock = lambda: datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    await citizen.send("chuẩn nghèo hiện nay là bao nhiêu")
    now = citizen.text()
    assert "1.500.000" in now and "Lưu ý: quy định này áp dụng đến hết ngày 31/12/2026" in now
    engine.clock = lambda: datetime(2027, 1, 1, 17, 30, tzinfo=UTC)  # 00:30 on 2 January in Việt Nam
    await citizen.send("chuẩn nghèo hiện nay là bao nhiêu")
    later = citizen.text()
    assert "2.200.000" in later and "Nghị định 351/2025/NĐ-CP" in later and "áp dụng đến hết" not in later
    # the rule it replaced is mentioned, not answered
    assert "Lưu ý: quy định này áp dụng từ ngày 01/01/2027. Đến hết ngày 31/12/2026 áp dụng quy định trước đó." in later


async def test_stale_faq_buttons_are_handled(engine) -> None:
    citizen = InMemoryChannel(engine)
    for action in ("faq:show:no-such-entry", "faq:up", "faq:forward:abc", "faq:forward:99999", "topic:nothing",
                   "topic:credit:x", "story:none", "faq:none", "faq:zzz"):
        await citizen.act(action)
        assert "hết hạn" in citizen.text(), action


def test_ask_command_prints_json_for_each_line_of_stdin(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "--on", "2026-11-28"],
        input="chuan ngheo hien nay la bao nhieu\ngiá vàng hôm nay\n\n",
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["status"] == "answer" and first["faq_id"] == "poverty-line-2022-2026"
    assert first["answer"].endswith("sẽ áp dụng quy định mới.") and "Nguồn:" in first["answer"]
    assert set(first) == {"question", "status", "faq_id", "score", "answer", "suggestions"}
    assert second["status"] == "none" and second["faq_id"] is None and second["suggestions"] == []


def test_ask_command_in_english_with_a_question_argument(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--locale", "en", "--on", "2027-03-01", "what", "is", "the", "current", "poverty", "line"],
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "2,200,000" in result.stdout or "2.200.000" in result.stdout
    assert "Source: Nghị định 351/2025/NĐ-CP" in result.stdout
