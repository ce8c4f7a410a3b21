"""Dated content: an entry waiting for review is never stated to citizens (bot, search, topics,
public pages, quiz), and quiz questions follow the dates of the FAQ entry they cite, even in the
middle of a round and of a contest."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import update
from sqlmodel import select

from bot.app import create_app
from bot.features import build_router
from content.areas import AreaDirectory
from content.i18n import Catalogs
from content.importer import faq_row, load_bundle
from content.library import Library
from content.model import ContentBundle, FaqEntry, FaqText, Source, Topic
from content.quiz import QuizQuestion, QuizText, drawable_on
from content.search import FaqIndex, Status
from handlers.engine import Engine
from handlers.turn import Services
from storage import quiz as quiz_repo
from storage.db import SessionFactory
from storage.models import Citizen, FaqRow, QuizContest, QuizPlay, QuizQuestionRow, StaffRole
from tests.channel import InMemoryChannel
from tests.dashboard import COMMUNE, add_staff, sign_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 12, 6)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment given in Việt Nam time."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def entry(entry_id: str, topic: str = "t", **fields: object) -> FaqEntry:
    """A small FAQ entry with sensible defaults."""
    text = FaqText(f"Câu hỏi về {entry_id}?", f"Dạ, đây là câu trả lời về {entry_id}.")
    return FaqEntry(id=entry_id, topic=topic, texts={"vi": text, "en": text}, sources=(Source("Nghị định 1/2026/NĐ-CP"),),
                    **fields)  # type: ignore[arg-type]


def answered_entry(faqs: tuple[FaqEntry, ...], day: date) -> FaqEntry:
    """A served entry the search answers when asked its own question, in a topic with other entries
    (so the topic stays listed without it). Found, not named: the shipped content changes."""
    index = FaqIndex(faqs)
    for candidate in faqs:
        others = [other for other in faqs if other.topic == candidate.topic and other.id != candidate.id and other.is_served_on(day)]
        result = index.search(candidate.text("vi").question, on=day)
        if candidate.is_served_on(day) and others and result.status is Status.answer and result.best.entry.id == candidate.id:  # type: ignore[union-attr]
            return candidate
    raise AssertionError("no entry is answered by its own question")


def waiting(bundle: ContentBundle, entry_id: str) -> ContentBundle:
    """The bundle with one entry marked needs_review."""
    return dataclasses.replace(bundle, faqs=tuple(
        dataclasses.replace(item, needs_review=True) if item.id == entry_id else item for item in bundle.faqs
    ))


# --- needs_review is never stated -----------------------------------------------------------------


def test_served_means_published_in_force_and_not_waiting_for_review() -> None:
    assert entry("a").is_served_on(TODAY)
    assert not entry("a", needs_review=True).is_served_on(TODAY)
    assert entry("a", needs_review=True).is_valid_on(TODAY), "still in force: the dashboard shows it so"
    assert not entry("a", published=False).is_served_on(TODAY)
    assert not entry("a", valid_until=TODAY - timedelta(days=1)).is_served_on(TODAY)
    assert not entry("a", valid_from=TODAY + timedelta(days=1)).is_served_on(TODAY)


def test_an_entry_waiting_for_review_is_never_answered_suggested_or_listed(bundle) -> None:
    chosen = answered_entry(bundle.faqs, TODAY)
    library = Library(waiting(bundle, chosen.id))
    text = chosen.text("vi")
    for question in (text.question, *text.alternatives, *chosen.text("en").alternatives):
        result = library.index.search(question, on=TODAY)
        assert chosen.id not in {match.entry.id for match in result.matches}, question
    assert chosen.id not in {item.id for item in library.in_topic(chosen.topic, TODAY)}
    assert chosen.id not in {item.id for item in library.served(TODAY)}
    assert library.faq(chosen.id) is not None, "still there for the dashboard"
    alone = Library(ContentBundle(topics=(Topic("t", {"vi": "T", "en": "T"}),), faqs=(entry("a", needs_review=True),)))
    assert alone.topics(TODAY) == [] and alone.in_topic("t", TODAY) == []


async def test_the_bot_neither_shows_nor_lists_an_entry_waiting_for_review(bundle, sessions: SessionFactory) -> None:
    chosen = answered_entry(bundle.faqs, TODAY)
    services = Services(areas=AreaDirectory.load(), catalogs=Catalogs(TZ), library=Library(waiting(bundle, chosen.id)), tz=TZ)
    engine = Engine(sessions, build_router(), services, conversation_ttl=timedelta(hours=72), clock=lambda: local(2026, 12, 6))
    citizen = InMemoryChannel(engine)
    await citizen.send(chosen.text("vi").question)
    assert chosen.text("vi").answer not in citizen.text()
    assert f"faq:show:{chosen.id}" not in {button.action for reply in citizen.last for button in reply.all_buttons()}
    await citizen.act(f"topic:{chosen.topic}")
    assert f"faq:show:{chosen.id}" not in {button.action for reply in citizen.last for button in reply.all_buttons()}
    await citizen.act(f"faq:show:{chosen.id}")  # an old button, or a notice's
    assert "hết hạn" in citizen.text() and chosen.text("vi").answer not in citizen.text()


async def test_public_pages_treat_an_entry_waiting_for_review_as_unknown(settings, sessions, aiohttp_client) -> None:
    async with sessions() as session:
        stored = await load_bundle(session)
        chosen = answered_entry(stored.faqs, TODAY)
        await session.exec(update(FaqRow).where(FaqRow.id == chosen.id).values(needs_review=True))  # type: ignore[call-overload]
        await session.commit()
    client = await aiohttp_client(create_app(settings, clock=lambda: local(2026, 12, 6)))
    answer = chosen.text("vi").answer.split("\n")[0]
    response = await client.get(f"/hoi-dap/cau/{chosen.id}")
    assert response.status == 404 and str(escape(answer)) not in await response.text()
    topic = await (await client.get(f"/hoi-dap/{chosen.topic}")).text()
    assert f'id="{chosen.id}"' not in topic and str(escape(answer)) not in topic
    found = await (await client.get("/hoi-dap", params={"q": chosen.text("vi").question})).text()
    assert f"/hoi-dap/cau/{chosen.id}" not in found and str(escape(answer)) not in found
    chat = await client.post("/chat/api/messages", json={"text": chosen.text("vi").question})
    assert answer not in "\n".join(reply["text"] for reply in (await chat.json())["replies"])
    staff = await _editor(client, sessions)
    edit = await staff.page(f"/admin/content/faq/{chosen.id}")
    assert str(escape(chosen.text("vi").question)) in edit, "staff still see and edit it"


async def _editor(client, sessions):  # type: ignore[no-untyped-def]
    await add_staff(sessions, "lan", StaffRole.province)
    return await sign_in(client, "lan")


# --- quiz questions follow the dates of their FAQ entry -------------------------------------------

QUIZ_ENTRIES = {  # FAQ entry id → its dates and review state
    "rule-until-2026": {"valid_until": date(2026, 12, 31), "replaced_by": "rule-from-2027"},
    "rule-from-2027": {"valid_from": date(2027, 1, 1)},
    "rule-always": {},
    "rule-unsure": {"needs_review": True},
}


def quiz_id(faq_id: str) -> str:
    return f"q-{faq_id}"


async def seed_quiz(sessions: SessionFactory) -> ContentBundle:
    """Four FAQ entries with dates and one question citing each, the only questions published; the
    stored content as the bot loads it."""
    now = datetime.now(UTC)
    async with sessions() as session:
        topic = (await load_bundle(session)).topics[0].id
        await session.exec(update(QuizQuestionRow).values(published=False))  # type: ignore[call-overload]
        for position, (faq_id, fields) in enumerate(QUIZ_ENTRIES.items()):
            session.add(faq_row(entry(faq_id, topic, **fields), 1000 + position, now))
            choices = ("Đúng", "Sai")
            session.add(QuizQuestionRow(
                id=quiz_id(faq_id), faq_id=faq_id, topic=topic, answer=0, position=1000 + position, updated_at=now,
                texts={locale: {"question": f"Câu đố về {faq_id}?", "choices": list(choices), "explanation": "Vì thế."}
                       for locale in ("vi", "en")},
            ))
        await session.commit()
        return await load_bundle(session)


def quiz_engine(sessions: SessionFactory, bundle: ContentBundle, moment: list[datetime]) -> Engine:
    services = Services(areas=AreaDirectory.load(), catalogs=Catalogs(TZ), library=Library(bundle), tz=TZ)
    return Engine(sessions, build_router(), services, conversation_ttl=timedelta(hours=72), clock=lambda: moment[0])


async def latest_play(sessions: SessionFactory) -> QuizPlay:
    async with sessions() as session:
        play = (await session.exec(select(QuizPlay).order_by(QuizPlay.id.desc()))).first()  # type: ignore[union-attr]
    assert play is not None
    return play


async def test_a_question_is_drawn_only_while_its_faq_entry_is_served(sessions) -> None:
    bundle = await seed_quiz(sessions)
    moment = [local(2026, 12, 31, 22)]
    citizen = InMemoryChannel(quiz_engine(sessions, bundle, moment))
    await citizen.send("/dovui")
    assert "2 câu hỏi" in citizen.text()
    assert set((await latest_play(sessions)).question_ids) == {quiz_id("rule-until-2026"), quiz_id("rule-always")}
    moment[0] = local(2027, 1, 1, 0, 5)  # no deploy, no import: the day changed
    await citizen.send("/dovui")
    assert set((await latest_play(sessions)).question_ids) == {quiz_id("rule-from-2027"), quiz_id("rule-always")}
    async with sessions() as session:
        served = [item.id for item in Library(bundle).served(date(2027, 1, 1))]
        rows = await quiz_repo.drawable_questions(session, served)
    assert [row.id for row in rows] == [quiz_id("rule-from-2027"), quiz_id("rule-always")]


async def start_round_with(sessions: SessionFactory, citizen: InMemoryChannel, question_ids: list[str]) -> None:
    """Start a round, then fix which questions it holds and in what order (the draw is random)."""
    await citizen.send("/dovui")
    play = await latest_play(sessions)
    async with sessions() as session:
        await session.exec(update(QuizPlay).where(QuizPlay.id == play.id).values(question_ids=question_ids))  # type: ignore[call-overload]
        await session.commit()


def answer_now(play: QuizPlay) -> str:
    """The first choice's button of the question the round is at."""
    return f"quiz:a:{play.id}:{len(play.answers)}:0"


async def test_a_round_across_midnight_drops_the_ended_question_and_still_counts_in_the_contest(sessions) -> None:
    bundle = await seed_quiz(sessions)
    async with sessions() as session:
        contest = QuizContest(titles={"vi": "Thi cuối năm"}, starts_on=date(2026, 12, 30), ends_on=date(2027, 1, 5),
                              created_at=datetime.now(UTC))
        session.add(contest)
        await session.commit()
        contest_id = contest.id
    moment = [local(2026, 12, 31, 23, 58)]
    citizen = InMemoryChannel(quiz_engine(sessions, bundle, moment), display_name=None)
    await citizen.send("/menu")
    async with sessions() as session:
        await session.exec(update(Citizen).values(consent_at=datetime.now(UTC), area_code=COMMUNE))  # type: ignore[call-overload]
        await session.commit()
    ended, steady = quiz_id("rule-until-2026"), quiz_id("rule-always")

    # The question on screen at midnight has left the quiz: it does not count, the round goes on.
    await start_round_with(sessions, citizen, [ended, steady])
    moment[0] = local(2027, 1, 1, 0, 1)
    await citizen.act(answer_now(await latest_play(sessions)))
    assert "vừa được bỏ khỏi phần đố vui" in citizen.text() and "Câu 1/1: Câu đố về rule-always?" in citizen.text()
    await citizen.act(answer_now(await latest_play(sessions)))
    assert "Bà con trả lời đúng 1/1 câu." in citizen.text()
    first = await latest_play(sessions)
    assert (first.question_ids, first.answers, first.score, first.contest_id) == ([steady], [0], 1, contest_id)

    # The next question has left the quiz: the answer counts and the round ends there.
    moment[0] = local(2026, 12, 31, 23, 59)
    await start_round_with(sessions, citizen, [steady, ended])
    moment[0] = local(2027, 1, 1, 0, 2)
    await citizen.act(answer_now(await latest_play(sessions)))
    assert "✅" in citizen.text() and "Bà con trả lời đúng 1/1 câu." in citizen.text()

    # Every question left before an answer: the round ends, uncounted, with a way to play again.
    moment[0] = local(2026, 12, 31, 23, 59)
    await start_round_with(sessions, citizen, [ended])
    moment[0] = local(2027, 1, 1, 0, 3)
    await citizen.act(answer_now(await latest_play(sessions)))
    assert "vừa được bỏ khỏi phần đố vui" in citizen.text() and "Chơi lượt mới" in citizen.labels()[0]
    empty = await latest_play(sessions)
    assert empty.finished_at is not None and empty.contest_id is None and empty.question_ids == []

    async with sessions() as session:
        [board] = await quiz_repo.leaderboard(session, contest_id)  # type: ignore[arg-type]
    assert (board.area_code, board.plays, board.average) == (COMMUNE, 2, 1.0)


async def test_the_dashboard_shows_which_questions_are_drawn_today(settings, sessions, aiohttp_client) -> None:
    await seed_quiz(sessions)
    client = await aiohttp_client(create_app(settings, clock=lambda: local(2027, 1, 2)))
    staff = await _editor(client, sessions)
    html = await staff.page("/admin/quiz/questions")

    def state(faq_id: str) -> str:
        return html.split(f'href="/admin/quiz/questions/{quiz_id(faq_id)}"')[1].split("</tr>")[0]

    assert "không có hiệu lực hôm nay" in state("rule-until-2026")
    assert "đang chờ rà soát" in state("rule-unsure")
    assert "đang dùng" in state("rule-from-2027") and "đang dùng" in state("rule-always")
    assert "được dùng hôm nay: 2" in html
    assert "Số câu hỏi hiện có: 2." in await staff.page("/admin/quiz")


def question(question_id: str, faq_id: str, topic_id: str = "t", published: bool = True) -> QuizQuestion:
    """A two-choice question citing `faq_id`."""
    text = QuizText("Câu đố?", ("Đúng", "Sai"), "Vì thế.")
    return QuizQuestion(question_id, topic_id, faq_id, 0, {"vi": text, "en": text}, published)


def test_drawable_questions_follow_the_cited_entry() -> None:
    faqs = {item.id: item for item in (entry("a", valid_until=date(2026, 12, 31)), entry("b", needs_review=True), entry("c"))}
    questions = [question("qa", "a"), question("qb", "b"), question("qc", "c"), question("qd", "c", published=False),
                 question("qe", "missing")]
    assert [q.id for q in drawable_on(questions, faqs, date(2026, 12, 31))] == ["qa", "qc"]
    assert [q.id for q in drawable_on(questions, faqs, date(2027, 1, 1))] == ["qc"]
