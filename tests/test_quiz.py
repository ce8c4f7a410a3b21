"""The policy quiz: content checks, rounds end to end on every channel, unseen questions first,
contests with their leaderboard by commune, the results notice (once), the dashboard screens and
the notice button."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
from datetime import date, timedelta
from pathlib import Path
from random import Random

import pytest
import yaml
from sqlmodel import select

from bot.app import create_app
from bot.broadcast_cli import run as run_broadcast_cli
from bot.__main__ import build_parser
from content.areas import AreaDirectory
from content.i18n import Catalogs
from content.importer import import_database, import_quiz
from content.loader import CONTENT_DIR, ContentInvalid, load_content
from content.quiz import load_quiz, parse_quiz
from handlers.engine import utc_now
from handlers.quiz_contest import announce_finished, occurrence_key
from handlers.turn import Services
from storage import quiz as quiz_repo
from storage.db import create_engine, session_factory
from storage.models import AuditEntry, Broadcast, Citizen, QuizContest, QuizPlay, QuizQuestionRow, StaffRole
from tests.dashboard import COMMUNE, OTHER_COMMUNE, add_staff, sign_in
from tests.drivers import joined

THIRD_COMMUNE = "24169"  # Phường Ea Kao


def good_question(**changes: object) -> dict:
    """A valid question of the quiz file, with some fields changed."""
    item = {
        "id": "rural-line", "topic": "poverty_standard", "faq_id": "poverty-standard-2027-new", "answer": 1,
        "vi": {"question": "Chuẩn nghèo nông thôn là bao nhiêu?", "choices": ["1.000.000 đồng", "1.500.000 đồng"],
               "explanation": "Đến hết 2026 là 1.500.000 đồng."},
        "en": {"question": "What is the rural poverty line?", "choices": ["1,000,000 VND", "1,500,000 VND"],
               "explanation": "Until 2026 it is 1,500,000 VND."},
    }
    item.update(changes)
    return item


def errors_of(bundle, *questions: dict) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(question, field) of each error the quiz checks find."""
    with pytest.raises(ContentInvalid) as raised:
        parse_quiz({"questions": list(questions)}, faqs=bundle.faqs, topics=bundle.topics)
    assert all(error.file == "quiz.yaml" for error in raised.value.errors)
    return {(error.entry, error.field) for error in raised.value.errors}


# --- content ------------------------------------------------------------------------------------


def test_a_valid_question_passes(bundle) -> None:
    [question] = parse_quiz({"questions": [good_question()]}, faqs=bundle.faqs, topics=bundle.topics)
    assert question.text("en").choices[question.answer] == "1,500,000 VND"


def test_field_errors_name_the_question_and_the_field(bundle) -> None:
    one_choice = good_question(id="one-choice")
    one_choice["vi"] = {**one_choice["vi"], "choices": ["Chỉ một"]}
    five = good_question(id="five-choices")
    five["vi"] = {**five["vi"], "choices": list("abcde")}
    five["en"] = {**five["en"], "choices": list("abcde")}
    no_english = good_question(id="no-english")
    del no_english["en"]
    uneven = good_question(id="uneven")
    uneven["en"] = {**uneven["en"], "choices": ["a", "b", "c"]}
    found = errors_of(
        bundle, one_choice, five, no_english, uneven,
        good_question(id="out-of-range", answer=2), good_question(id="Bad_Id"), good_question(id="extra", colour="red"),
    )
    assert ("one-choice", "vi.choices") in found
    assert ("five-choices", "vi.choices") in found and ("five-choices", "en.choices") in found
    assert ("no-english", "en") in found
    assert ("uneven", "answer") in found
    assert ("out-of-range", "answer") in found
    assert ("Bad_Id", "id") in found
    assert ("extra", "colour") in found


def test_reference_errors_duplicate_ids_unknown_and_unpublished_faq_entries(bundle) -> None:
    entries = {entry.id: entry for entry in bundle.faqs}
    hidden = dataclasses.replace(entries["loan-rate-poor"], published=False)
    changed = dataclasses.replace(bundle, faqs=tuple(hidden if e.id == hidden.id else e for e in bundle.faqs))
    found = errors_of(
        changed, good_question(), good_question(), good_question(id="nowhere", faq_id="no-such-entry"),
        good_question(id="hidden", faq_id="loan-rate-poor"), good_question(id="unsure", faq_id="daklak-targets"),
        good_question(id="topicless", topic="weather"),
    )
    assert found == {("rural-line", "id"), ("nowhere", "faq_id"), ("hidden", "faq_id"), ("unsure", "faq_id"),
                     ("topicless", "topic")}


def test_file_errors_and_content_check_reports_the_quiz(tmp_path: Path, bundle) -> None:
    with pytest.raises(ContentInvalid, match="file is missing"):
        load_quiz(tmp_path, faqs=bundle.faqs, topics=bundle.topics)
    root = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, root, ignore=shutil.ignore_patterns("locale", "__pycache__", "*.py"))
    (root / "quiz.yaml").write_text("questions: [\n", encoding="utf-8")
    with pytest.raises(ContentInvalid, match="quiz.yaml: not valid YAML"):
        load_content(root)  # what `python -m bot content check` runs
    document = yaml.safe_load((CONTENT_DIR / "quiz.yaml").read_text(encoding="utf-8"))
    document["questions"][0]["answer"] = 7
    (root / "quiz.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentInvalid) as raised:
        load_content(root)
    assert [(e.file, e.entry, e.field) for e in raised.value.errors] == [("quiz.yaml", document["questions"][0]["id"], "answer")]


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def test_over_30_questions_ship_and_each_right_answer_is_in_its_faq_answer(bundle) -> None:
    questions = load_quiz(faqs=bundle.faqs, topics=bundle.topics)
    assert len(questions) >= 30
    assert len({question.faq_id for question in questions}) >= 20
    for question in questions:
        entry = bundle.faq_by_id[question.faq_id]
        right = question.text("vi").choices[question.answer]  # the Vietnamese answer is the reference text
        for number in NUMBER.findall(right):
            assert number in entry.text("vi").answer, (question.id, number)


async def test_import_loads_the_questions_once_and_unpublishes_removed_ones(settings, sessions, bundle) -> None:
    shipped = load_quiz(faqs=bundle.faqs, topics=bundle.topics)
    await import_database(settings.database_url, now=utc_now())  # a second import changes nothing
    async with sessions() as session:
        rows = (await session.exec(select(QuizQuestionRow))).all()
        assert sorted(row.id for row in rows) == sorted(question.id for question in shipped)
        await import_quiz(session, shipped[:-1], now=utc_now())
        await session.commit()
        published = await quiz_repo.published_questions(session)
    assert [row.id for row in published] == [question.id for question in shipped[:-1]]


# --- playing ------------------------------------------------------------------------------------


async def latest_play(sessions) -> QuizPlay:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        play = (await session.exec(select(QuizPlay).order_by(QuizPlay.id.desc()))).first()  # type: ignore[union-attr]
    assert play is not None
    return play


async def choices_now(sessions) -> tuple[list[str], int]:  # type: ignore[no-untyped-def]
    """The Vietnamese choices of the question the latest round is at, and the right one's index."""
    play = await latest_play(sessions)
    async with sessions() as session:
        row = await session.get(QuizQuestionRow, play.question_ids[len(play.answers)])
    assert row is not None
    return list(row.texts["vi"]["choices"]), row.answer


def pressable(choices: list[str], index: int) -> bool:
    """Whether a label can be pressed by a part of it without hitting another choice."""
    return not any(choices[index] in other for n, other in enumerate(choices) if n != index)


async def test_a_whole_round_on_every_channel(driver, sessions) -> None:
    shown = await driver.send("/dovui")
    assert "Đố vui chính sách: 5 câu hỏi" in joined(shown)
    for number in range(1, 6):
        assert f"Câu {number}/5:" in driver.last[-1].text
        choices, right = await choices_now(sessions)
        wrong = next(n for n in range(len(choices)) if n != right and pressable(choices, n))
        pick = right if number < 5 else wrong
        await driver.press(choices[pick])
        text = joined(driver.last)
        assert ("✅ Đúng rồi!" in text) == (pick == right)
        assert ("Đáp án đúng là: " + choices[right] in text) == (pick != right)
        assert "Nguồn: " in text
    assert "Bà con trả lời đúng 4/5 câu." in joined(driver.last)
    assert any("Chơi lượt mới" in label for label, _ in driver.last[-1].buttons)
    play = await latest_play(sessions)
    assert (play.score, len(play.answers), play.finished_at is not None, play.contest_id) == (4, 5, True, None)


async def test_the_menu_button_starts_a_round_and_old_buttons_expire(driver, sessions) -> None:
    await driver.send("/menu")
    await driver.press("Đố vui chính sách")
    assert "Câu 1/5:" in driver.last[-1].text
    first = await latest_play(sessions)
    old = driver.last[-1].buttons[0][1]
    await driver.act(old)  # Zalo has no button data: skipped there
    assert "Câu 2/5:" in driver.last[-1].text
    await driver.act(old)  # the same button again: it no longer fits
    assert "đã hết hạn" in joined(driver.last)
    await driver.act(f"quiz:a:{first.id + 99}:0:0")
    assert "đã hết hạn" in joined(driver.last)


async def answer_round(citizen) -> None:  # type: ignore[no-untyped-def]
    """Answer the five questions of the round just started, each with its first choice."""
    for _question in range(5):
        await citizen.act(citizen.last[-1].all_buttons()[0].action)


async def test_play_again_gets_questions_not_seen_before(citizen, sessions) -> None:
    seen: list[str] = []
    for _round in range(3):
        await citizen.send("/quiz")
        await answer_round(citizen)
        assert "trả lời đúng" in citizen.text()
        play = await latest_play(sessions)
        assert not set(play.question_ids) & set(seen)
        seen += play.question_ids
    assert len(set(seen)) == 15
    await citizen.press("Chơi lượt mới")
    assert "Câu 1/5:" in citizen.last[-1].text


def test_unseen_questions_come_first_then_seen_ones_fill_the_round() -> None:
    eligible = [f"q{n}" for n in range(8)]
    assert set(quiz_repo.choose(eligible, set(eligible[:6]), 5, Random(1))) >= {"q6", "q7"}
    assert len(set(quiz_repo.choose(eligible, set(eligible), 5, Random(2)))) == 5
    assert sorted(quiz_repo.choose(eligible[:3], set(), 5, Random(3))) == eligible[:3]


async def test_draw_skips_what_the_citizen_saw_on_both_backends(db_sessions) -> None:
    now = utc_now()
    async with db_sessions() as session:
        citizen = Citizen(channel="test", channel_user_id="draw", created_at=now, last_seen_at=now)
        session.add(citizen)
        await session.flush()
        eligible = [row.id for row in await quiz_repo.published_questions(session)]
        await quiz_repo.start_play(session, citizen, eligible[:-3], now)
        drawn = await quiz_repo.draw(session, citizen.id, eligible)  # type: ignore[arg-type]
        await session.commit()
    assert set(eligible[-3:]) <= set(drawn) and len(set(drawn)) == 5


# --- contests -----------------------------------------------------------------------------------


def local_today() -> date:
    from zoneinfo import ZoneInfo

    return utc_now().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()


async def add_contest(sessions, starts_on: date, ends_on: date, title: str = "Tháng cao điểm") -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        contest = QuizContest(titles={"vi": title, "en": "Peak month"}, starts_on=starts_on, ends_on=ends_on, created_at=utc_now())
        session.add(contest)
        await session.commit()
        return contest.id  # type: ignore[return-value]


PEOPLE = [
    # name, commune, subscribed, scores of finished rounds, public name
    ("Lan", COMMUNE, True, [5, 3], "Lan"),
    ("Hùng", COMMUNE, True, [4], ""),
    ("Mai", COMMUNE, True, [], None),
    ("Tú", COMMUNE, False, [2], None),
    ("Hoa", OTHER_COMMUNE, True, [5], None),
    ("Bình", OTHER_COMMUNE, True, [], None),
    ("Cúc", OTHER_COMMUNE, True, [], None),
    ("Sơn", OTHER_COMMUNE, True, [], None),
]


async def add_players(sessions, contest_id: int) -> None:  # type: ignore[no-untyped-def]
    now = utc_now()
    async with sessions() as session:
        for n, (name, area, subscribed, scores, public) in enumerate(PEOPLE):
            citizen = Citizen(channel="test", channel_user_id=f"p{n}", display_name=name, area_code=area,
                              subscribed=subscribed, consent_at=now, created_at=now, last_seen_at=now)
            session.add(citizen)
            await session.flush()
            for score in scores:
                session.add(QuizPlay(citizen_id=citizen.id, area_code=area, contest_id=contest_id, question_ids=["a"] * 5,
                                     answers=[0] * 5, score=score, public_name=public, started_at=now, finished_at=now))
        # a round of someone who since deleted their data, and an unfinished round: only the first counts
        session.add(QuizPlay(citizen_id=None, area_code=OTHER_COMMUNE, contest_id=contest_id, question_ids=["a"] * 5,
                             answers=[0] * 5, score=1, started_at=now, finished_at=now))
        session.add(QuizPlay(citizen_id=None, area_code=THIRD_COMMUNE, contest_id=None, question_ids=["a"] * 5,
                             answers=[0], started_at=now))
        await session.commit()


async def test_leaderboard_by_commune_with_and_without_names_on_both_backends(db_sessions) -> None:
    contest = await add_contest(db_sessions, local_today() - timedelta(days=3), local_today())
    await add_players(db_sessions, contest)
    async with db_sessions() as session:
        board = await quiz_repo.leaderboard(session, contest)
        mine = await quiz_repo.leaderboard(session, contest, {COMMUNE})
        named = await quiz_repo.public_players(session, contest, COMMUNE)
        nobody = await quiz_repo.public_players(session, contest, OTHER_COMMUNE)
        scores = await quiz_repo.score_counts(session, contest, COMMUNE)
    first, second = board
    assert (first.area_code, first.participants, first.plays, first.subscribers, first.subscribed_participants) == (COMMUNE, 3, 4, 3, 2)
    assert first.share == pytest.approx(2 / 3) and first.average == pytest.approx(3.5)
    assert (second.area_code, second.participants, second.subscribers, second.subscribed_participants) == (OTHER_COMMUNE, 2, 4, 1)
    assert second.share == pytest.approx(0.25) and second.average == pytest.approx(3)
    assert mine == [first]
    assert named == [("Lan", 5)]  # Hùng said no, the others were not asked
    assert nobody == []
    assert scores == {5: 1, 3: 1, 4: 1, 2: 1}


async def known_citizen(citizen, sessions, name: str) -> None:  # type: ignore[no-untyped-def]
    """The citizen writes once, then is stored as having consented, with `name` and the commune."""
    await citizen.send("/menu")
    async with sessions() as session:
        row = (await session.exec(select(Citizen))).one()
        row.consent_at, row.display_name, row.area_code = utc_now(), name, COMMUNE
        session.add(row)
        await session.commit()


async def test_during_a_contest_the_citizen_is_asked_once_whether_to_show_their_name(citizen, sessions) -> None:
    contest = await add_contest(sessions, local_today() - timedelta(days=1), local_today() + timedelta(days=1))
    await known_citizen(citizen, sessions, "Nguyễn Văn A")
    await citizen.send("/dovui")
    assert "Đang diễn ra cuộc thi “Tháng cao điểm”" in citizen.text()
    await answer_round(citizen)
    assert "ghi tên “Nguyễn Văn A”" in citizen.text()
    name_button = citizen.last[-1].all_buttons()[0].action
    await citizen.press("Đồng ý ghi tên")
    assert "Tên của bà con sẽ được ghi" in citizen.text()
    await citizen.act(name_button)
    assert "đã hết hạn" in citizen.text()
    await citizen.send("/dovui")
    await answer_round(citizen)
    assert "ghi tên" not in citizen.text() and "trả lời đúng" in citizen.text()
    async with sessions() as session:
        plays = (await session.exec(select(QuizPlay).order_by(QuizPlay.id))).all()
        named = await quiz_repo.public_players(session, contest, COMMUNE)
    assert [(p.contest_id, p.public_name, p.area_code) for p in plays] == [(contest, "Nguyễn Văn A", COMMUNE)] * 2
    assert named == [("Nguyễn Văn A", max(p.score for p in plays))]


async def test_saying_no_keeps_the_citizen_anonymous(citizen, sessions) -> None:
    contest = await add_contest(sessions, local_today(), local_today())
    await known_citizen(citizen, sessions, "Trần Thị B")
    await citizen.send("/dovui")
    await answer_round(citizen)
    await citizen.press("giữ ẩn danh")
    assert "sẽ không được ghi" in citizen.text()
    async with sessions() as session:
        assert await quiz_repo.public_players(session, contest, COMMUNE) == []
    assert (await latest_play(sessions)).public_name == ""


def quiz_services(bundle) -> Services:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from content.library import Library

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    return Services(areas=AreaDirectory.load(), catalogs=Catalogs(tz), library=Library(bundle), tz=tz)


async def test_the_results_notice_is_made_once_even_by_two_processes_on_both_backends(db_url, db_sessions, bundle) -> None:
    contest = await add_contest(db_sessions, local_today() - timedelta(days=30), local_today() - timedelta(days=1))
    await add_players(db_sessions, contest)
    services = quiz_services(bundle)
    other = create_engine(db_url)
    try:
        made = await asyncio.gather(
            announce_finished(db_sessions, services, utc_now), announce_finished(session_factory(other), services, utc_now),
        )
    finally:
        await other.dispose()
    assert sorted(made) == [0, 1]
    assert await announce_finished(db_sessions, services, utc_now) == 0
    async with db_sessions() as session:
        notices = (await session.exec(select(Broadcast))).all()
        stored = await session.get(QuizContest, contest)
    [notice] = notices
    assert stored is not None and stored.announce_broadcast_id == notice.id
    assert notice.occurrence_key == occurrence_key(contest) and notice.target["areas"] == ["66"]
    text = notice.texts["vi"]
    assert "Cuộc thi “Tháng cao điểm”" in text and "🥇 xã Hòa Phú: 67% người đăng ký đã tham gia, điểm trung bình 3,5/5" in text
    assert "🥈 phường Buôn Ma Thuột: 25%" in text
    assert not any(name in text for name, *_ in PEOPLE)
    assert "took part" in notice.texts["en"]
    assert notice.buttons[0][0]["action"] == "quiz:start"


async def test_a_running_or_empty_contest_is_not_announced(sessions, bundle) -> None:
    await add_contest(sessions, local_today() - timedelta(days=3), local_today())
    await add_contest(sessions, local_today() - timedelta(days=9), local_today() - timedelta(days=5), "Trống")
    assert await announce_finished(sessions, quiz_services(bundle), utc_now) == 0


# --- dashboard and notices ----------------------------------------------------------------------


async def test_province_staff_create_a_contest_commune_staff_may_not(settings, sessions, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "tinh", StaffRole.province)
    province = await sign_in(client, "tinh")
    page = await province.page("/admin/quiz")
    today = local_today()
    peak_year = today.year if today <= date(today.year, 11, 18) else today.year + 1
    assert "Cuộc thi mới" in page and f'value="{peak_year}-10-17"' in page and f'value="{peak_year}-11-18"' in page
    bad = await province.post("/admin/quiz/contests", {"title_vi": "", "starts_on": "2026-11-18", "ends_on": "2026-10-17"})
    assert bad.status == 400
    assert "Hãy đặt tên cuộc thi" in await bad.text() and "Ngày kết thúc đang trước ngày bắt đầu" in await bad.text()
    form = {"title_vi": "Đố vui tháng cao điểm 2026", "title_en": "Peak month quiz 2026", "starts_on": "2026-10-17", "ends_on": "2026-11-18"}
    created = await province.post("/admin/quiz/contests", form)
    assert created.status == 303
    assert (await province.post("/admin/quiz/contests", form)).status == 400  # overlaps the first
    async with sessions() as session:
        [contest] = (await session.exec(select(QuizContest))).all()
        audit = (await session.exec(select(AuditEntry).where(AuditEntry.action == "quiz.contest.create"))).one()
    assert (contest.starts_on, contest.ends_on, contest.author) == (date(2026, 10, 17), date(2026, 11, 18), "tinh")
    assert audit.object_id == str(contest.id)
    assert created.headers["Location"] == f"/admin/quiz/contests/{contest.id}"
    assert (await province.post("/admin/quiz/contests", form, csrf=False)).status == 403

    client2 = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    officer = await sign_in(client2, "hoaphu")
    assert "Cuộc thi mới" not in await officer.page("/admin/quiz")
    refused = await officer.post("/admin/quiz/contests", {**form, "starts_on": "2027-10-17", "ends_on": "2027-11-18"})
    assert refused.status == 403


async def test_the_leaderboard_screens_follow_the_staff_members_area(settings, sessions, aiohttp_client) -> None:
    contest = await add_contest(sessions, local_today() - timedelta(days=3), local_today())
    await add_players(sessions, contest)
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "tinh", StaffRole.province)
    province = await sign_in(client, "tinh")
    board = await province.page(f"/admin/quiz/contests/{contest}")
    assert "xã Hòa Phú" in board and "phường Buôn Ma Thuột" in board and "<svg" in board
    assert "Lan" not in board
    commune = await province.page(f"/admin/quiz/contests/{contest}/communes/{COMMUNE}")
    assert "Lan" in commune and "Hùng" not in commune and "Tú" not in commune
    assert (await province.get(f"/admin/quiz/contests/{contest + 1}")).status == 404
    assert (await province.get(f"/admin/quiz/contests/{contest}/communes/99999")).status == 404

    client2 = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "hoaphu", StaffRole.commune, COMMUNE)
    officer = await sign_in(client2, "hoaphu")
    own = await officer.page(f"/admin/quiz/contests/{contest}")
    assert "xã Hòa Phú" in own and "phường Buôn Ma Thuột" not in own
    assert (await officer.get(f"/admin/quiz/contests/{contest}/communes/{OTHER_COMMUNE}")).status == 404
    assert "Lan" in await officer.page(f"/admin/quiz/contests/{contest}/communes/{COMMUNE}")


async def test_a_notice_can_carry_the_quiz_button_from_the_dashboard_and_the_cli(settings, sessions, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings))
    await add_staff(sessions, "tinh", StaffRole.province)
    province = await sign_in(client, "tinh")
    assert 'name="quiz"' in await province.page("/admin/broadcasts/new")
    sent = await province.post("/admin/broadcasts/new", {"text_vi": "Mời bà con chơi đố vui!", "province": "1", "quiz": "1",
                                                         "when": "now", "action": "send"})
    assert sent.status == 303, await sent.text()
    args = build_parser().parse_args(["broadcast", "send", "--text", "Đố vui nào", "--quiz", "--area", COMMUNE])
    assert await run_broadcast_cli(settings, args) == 0
    async with sessions() as session:
        notices = (await session.exec(select(Broadcast).order_by(Broadcast.id))).all()
    for notice in notices:
        [[button]] = notice.buttons
        assert button == {"labels": {"vi": "🎯 Chơi đố vui chính sách", "en": "🎯 Play the policy quiz"}, "action": "quiz:start"}


async def test_pressing_the_notice_button_starts_a_round(citizen) -> None:
    await citizen.act("quiz:start")
    assert "Câu 1/5:" in citizen.last[-1].text and len(citizen.last[-1].all_buttons()) >= 2
