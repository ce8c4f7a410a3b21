"""Figures from summaries, not raw rows: quiz answers counted per question and choice as they are
recorded (right across retries, duplicates and aborted turns, filled from the rounds by migration
0024, kept when rounds are deleted); FAQ usage summed per local day and month (the same sums as the
hourly rows for any period, summed or not yet), and hourly rows rolled up without losing a count."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import create_app
from bot.features import build_router
from handlers.engine import Engine
from storage import faq_summary, public as public_repo, quiz as quiz_repo, stats
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import downgrade, upgrade
from storage.models import FaqUsageRow, FaqUsageSpan, FaqUsageSummary, QuizAnswerCount, QuizPlay
from tests.channel import InMemoryChannel

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


# --- quiz: answers counted as they are recorded ---------------------------------------------------


async def stored_counts(sessions: SessionFactory) -> dict[tuple[str, int], int]:
    async with sessions() as session:
        rows = (await session.exec(select(QuizAnswerCount))).all()
    return {(row.question_id, row.choice): row.answers for row in rows}


async def counted_from_rounds(sessions: SessionFactory) -> dict[tuple[str, int], int]:
    """What the rounds themselves say: (question, choice) → answers."""
    counts: dict[tuple[str, int], int] = {}
    async with sessions() as session:
        for play in (await session.exec(select(QuizPlay))).all():
            for question, choice in zip(play.question_ids, play.answers, strict=False):
                counts[(question, choice)] = counts.get((question, choice), 0) + 1
    return counts


async def current_play(sessions: SessionFactory) -> QuizPlay:
    async with sessions() as session:
        play = (await session.exec(select(QuizPlay).order_by(col(QuizPlay.id).desc()))).first()
    assert play is not None
    return play


async def test_each_answer_is_counted_once_even_pressed_twice_and_rounds_can_go(citizen, sessions) -> None:
    question = (await citizen.send("/dovui"))[-1]
    for position in range(5):
        button = question.all_buttons()[position % 2]  # the first or the second choice
        question = (await citizen.act(button.action))[-1]
        await citizen.act(button.action)  # the same button again (a retried delivery): expired, not counted
        assert "đã hết hạn" in citizen.text()
    play = await current_play(sessions)
    assert play.finished_at is not None and play.answers == [0, 1, 0, 1, 0]
    expected = {(question, choice): 1 for question, choice in zip(play.question_ids, play.answers, strict=True)}
    assert await stored_counts(sessions) == expected

    async with sessions() as session:
        right = {row.id: row.answer for row in await quiz_repo.all_questions(session)}
        before = await quiz_repo.answer_counts(session, right)
        await session.exec(delete(QuizPlay))  # type: ignore[call-overload]  # a retention job deleting rounds
        await session.commit()
    async with sessions() as session:
        assert await quiz_repo.answer_counts(session, right) == before
    assert set(before) == set(play.question_ids)
    assert sum(count.answered for count in before.values()) == 5
    assert sum(count.right for count in before.values()) == sum(
        right[question] == choice for question, choice in zip(play.question_ids, play.answers, strict=True))


async def test_the_same_answer_delivered_twice_at_once_counts_once(citizen, sessions) -> None:
    """Two processes handling the same button at the same time (PostgreSQL): the round's row is
    locked by the first, the second then finds the question answered."""
    await citizen.send("/dovui")
    action = citizen.last[-1].all_buttons()[0].action
    twin = InMemoryChannel(citizen.engine, user_id=citizen.user_id)
    await asyncio.gather(citizen.act(action), twin.act(action))
    play = await current_play(sessions)
    assert play.answers == [0]
    assert await stored_counts(sessions) == {(play.question_ids[0], 0): 1}


class _CutBeforeCommit(AsyncSession):
    """A session whose COMMIT never happens: the process dies after the turn's work."""

    async def commit(self) -> None:
        raise ConnectionError("the process was killed before COMMIT")


async def test_an_answer_whose_turn_is_rolled_back_is_not_counted_and_counts_once_when_sent_again(
    citizen, sessions, services,
) -> None:
    await citizen.send("/dovui")
    action = citizen.last[-1].all_buttons()[1].action
    cut = Engine(async_sessionmaker(sessions.kw["bind"], class_=_CutBeforeCommit, expire_on_commit=False),
                 build_router(), services)
    dying = InMemoryChannel(cut, user_id=citizen.user_id)
    await dying.act(action)
    assert "hệ thống đang gặp sự cố" in dying.text()
    assert (await current_play(sessions)).answers == [] and await stored_counts(sessions) == {}
    await citizen.act(action)  # the platform delivers it again
    play = await current_play(sessions)
    assert play.answers == [1] and await stored_counts(sessions) == {(play.question_ids[0], 1): 1}


async def test_counting_answers_adds_up_per_question_and_choice_on_both_backends(db_sessions) -> None:
    async with db_sessions() as session:
        for question, choice in [("q1", 0), ("q1", 0), ("q1", 2), ("q2", 1)]:
            await quiz_repo.count_answer(session, question, choice)
        await session.commit()
    async with db_sessions() as session:
        await quiz_repo.count_answer(session, "q1", 2)
        await session.rollback()  # a turn that failed: its count goes with it
    assert await stored_counts(db_sessions) == {("q1", 0): 2, ("q1", 2): 1, ("q2", 1): 1}
    async with db_sessions() as session:
        counts = await quiz_repo.answer_counts(session, {"q1": 2, "q2": 0})
    assert counts == {"q1": quiz_repo.AnswerCount(3, 1), "q2": quiz_repo.AnswerCount(1, 0)}


async def test_migration_0024_counts_the_answers_of_every_stored_round(blank_url: str) -> None:
    await asyncio.to_thread(upgrade, blank_url, "0023")
    rng = random.Random(24)
    questions = [f"q{n}" for n in range(12)]
    rounds = []
    for n in range(5_003):  # more than one batch of the migration
        drawn = rng.sample(questions, 5)
        rounds.append({"question_ids": drawn, "answers": [rng.randrange(4) for _ in range(rng.randrange(6))],
                       "score": 0, "started_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)})
    expected: dict[tuple[str, int], int] = {}
    for played in rounds:
        for pair in zip(played["question_ids"], played["answers"], strict=False):
            expected[pair] = expected.get(pair, 0) + 1
    engine = create_engine(blank_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(QuizPlay.__table__.insert(), rounds)  # type: ignore[attr-defined]
        await engine.dispose()
        await asyncio.to_thread(upgrade, blank_url, "0024")
        assert await stored_counts(session_factory(engine)) == expected
        await engine.dispose()
        await asyncio.to_thread(downgrade, blank_url, "0023")
        await asyncio.to_thread(upgrade, blank_url, "0024")
        assert await stored_counts(session_factory(engine)) == expected  # nothing counted twice
    finally:
        await engine.dispose()


# --- FAQ usage: day and month summaries -----------------------------------------------------------


FIRST_DAY = date(2026, 1, 25)
LAST_DAY = date(2026, 4, 5)
NOW = datetime(2026, 4, 3, 5, 30, tzinfo=TZ)  # days up to 2 April are summed; 3 April is not over
AREAS = ("", "24121", "24169", "24175")
ENTRIES = ("household-poor-definition", "household-near-poor-definition", "loan-rate-poor")
UNDATED = datetime(1970, 1, 1, tzinfo=UTC)  # migration 0013's counts of unknown date


def local(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TZ)


def usage_rows(seed: int = 20) -> list[FaqUsageRow]:
    """Random hourly counters from FIRST_DAY to LAST_DAY (some hours without any), and an undated one."""
    rng = random.Random(seed)
    rows = [FaqUsageRow(hour=UNDATED, area_code="", faq_id="loan-rate-poor", shown=9, helpful=2, unhelpful=1)]
    hour = local(FIRST_DAY).astimezone(UTC)
    while hour < local(LAST_DAY + timedelta(days=1)):
        for area, entry in rng.sample([(a, e) for a in AREAS for e in ENTRIES], rng.choice((0, 0, 1, 2, 3))):
            rows.append(FaqUsageRow(hour=hour, area_code=area, faq_id=entry, shown=rng.randint(1, 9),
                                    helpful=rng.randint(0, 2), unhelpful=rng.randint(0, 1)))
        hour += timedelta(hours=1)
    return rows


async def hourly_sums(session: AsyncSession, start: datetime, end: datetime, areas: frozenset[str] | None, by: str):
    """The sums as they were made before the summaries: straight from the hourly rows."""
    key = getattr(FaqUsageRow, by)
    query = (select(key, func.sum(FaqUsageRow.shown), func.sum(FaqUsageRow.helpful), func.sum(FaqUsageRow.unhelpful))
             .where(col(FaqUsageRow.hour) >= start, col(FaqUsageRow.hour) < end).group_by(key))
    if areas is not None:
        query = query.where(col(FaqUsageRow.area_code).in_(sorted(areas)))
    return {str(k): (int(a), int(b), int(c)) for k, a, b, c in (await session.exec(query)).all()}


async def summed(sessions: SessionFactory, now: datetime = NOW, limit: int = 10) -> int:
    """Run the scheduler's refresh until it has nothing more to do; how many days it summed."""
    total = 0
    while True:
        async with sessions() as session:
            made = await faq_summary.refresh(session, TZ, now, limit=limit)
            await session.commit()
        total += made
        if made < limit:
            return total


@pytest.fixture
async def usage(db_sessions: SessionFactory) -> SessionFactory:
    async with db_sessions() as session:
        session.add_all(usage_rows())
        await session.commit()
    return db_sessions


async def spans(sessions: SessionFactory) -> list[tuple[str, date]]:
    async with sessions() as session:
        rows = (await session.exec(select(FaqUsageSpan).order_by(col(FaqUsageSpan.starts_at), col(FaqUsageSpan.span)))).all()
    return [(row.span, row.day) for row in rows]


async def test_days_are_summed_once_over_and_months_once_whole(usage) -> None:
    days = await summed(usage, limit=7)
    made = await spans(usage)
    summed_days = [day for span, day in made if span == "day"]
    # January 1970 (the undated counts), then every day from 1 January 2026 to 2 April; empty months skipped
    assert summed_days == [date(1970, 1, 1) + timedelta(days=n) for n in range(31)] + [
        date(2026, 1, 1) + timedelta(days=n) for n in range((date(2026, 4, 2) - date(2026, 1, 1)).days + 1)]
    assert days == len(summed_days)
    assert [day for span, day in made if span == "month"] == [date(1970, 1, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert await summed(usage) == 0  # up to date: nothing more until 3 April is over
    assert await summed(usage, NOW + timedelta(hours=19)) == 0  # over, but not for an hour yet
    assert await summed(usage, NOW + timedelta(hours=20)) == 1
    async with usage() as session:
        february = (await session.exec(select(FaqUsageSummary).where(
            FaqUsageSummary.span == "month", FaqUsageSummary.day == date(2026, 2, 1)))).all()
        hours = await hourly_sums(session, local(date(2026, 2, 1)), local(date(2026, 3, 1)), None, "area_code")
    total = sum(shown for shown, _, _ in hours.values())
    kinds: dict[tuple[bool, bool], int] = {}
    for row in february:
        kind = (row.area_code == faq_summary.ALL, row.faq_id == faq_summary.ALL)
        kinds[kind] = kinds.get(kind, 0) + row.shown
    # each commune and entry; every commune together per entry; every entry together per commune
    assert kinds == {(False, False): total, (True, False): total, (False, True): total} and total > 0


async def test_two_processes_summing_at_once_sum_each_day_once(usage) -> None:
    await asyncio.gather(summed(usage, limit=3), summed(usage, limit=3))
    await summed(usage)
    async with usage() as session:
        rows = (await session.exec(select(FaqUsageSummary.span, FaqUsageSummary.day, func.sum(FaqUsageSummary.shown))
                                   .where(FaqUsageSummary.area_code != faq_summary.ALL, FaqUsageSummary.faq_id != faq_summary.ALL)
                                   .group_by(FaqUsageSummary.span, FaqUsageSummary.day))).all()
        whole = await hourly_sums(session, local(date(2026, 3, 1)), local(date(2026, 4, 1)), None, "area_code")
    march = sum(shown for span, day, shown in rows if span == "day" and date(2026, 3, 1) <= day <= date(2026, 3, 31))
    assert march == sum(shown for shown, _, _ in whole.values())
    assert [shown for span, day, shown in rows if span == "month" and day == date(2026, 3, 1)] == [march]


DAYS = st.dates(min_value=FIRST_DAY - timedelta(days=3), max_value=LAST_DAY + timedelta(days=2))
SCOPES = st.one_of(st.none(), st.sets(st.sampled_from(AREAS), min_size=1).map(frozenset))


@given(first=DAYS, length=st.integers(0, 80), areas=SCOPES, cut=st.integers(0, 40))
@hypothesis_settings(max_examples=40, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_summaries_give_the_hourly_sums_for_any_period(usage, first: date, length: int, areas, cut: int) -> None:
    """Whole local days (summed, not summed yet, today), and periods that start or end inside a day."""
    if not await spans(usage):
        await summed(usage, limit=31)
    start, end = local(first), local(first + timedelta(days=length + 1))
    odd_start, odd_end = start + timedelta(hours=cut), end - timedelta(minutes=30 * cut)
    async with usage() as session:
        for a, b in ((start, end), (odd_start, max(odd_start, odd_end))):
            for by in ("faq_id", "area_code"):
                assert await faq_summary.usage_sums(session, a, b, areas, by) == await hourly_sums(session, a, b, areas, by)


async def test_statistics_read_the_summaries_once_the_hours_are_rolled_up(usage) -> None:
    """The figures of whole days stay the same when the hourly rows behind them are gone: they
    are read from the summaries (the pages' period, a year, fits in a few rows per pair)."""
    scope = stats.Scope(local(date(2026, 1, 10)), local(date(2026, 4, 4)), None)
    communes = stats.Scope(scope.start, scope.end, frozenset({"24121", "24169"}))
    async with usage() as session:
        figures = await stats.faq_usage(session, scope), await stats.faq_usage(session, communes)
        by_area = await public_repo.answers_by_area(session, scope)
    await summed(usage)
    async with usage() as session:
        while await faq_summary.roll_up_hours(session, local(date(2026, 4, 3)), 500):
            await session.commit()
        await session.commit()
    async with usage() as session:
        left = (await session.exec(select(func.min(FaqUsageRow.hour)))).one()
        assert left >= local(date(2026, 4, 1))  # April's summed days keep their hours until April is summed
        assert (await stats.faq_usage(session, scope), await stats.faq_usage(session, communes)) == figures
        assert await public_repo.answers_by_area(session, scope) == by_area
    assert any(usage.shown for usage in figures[0]) and by_area


async def test_roll_up_removes_only_summed_hours_older_than_before_and_is_idempotent(usage) -> None:
    """Only hours of days ended by `before` whose day and month are summed (a month is summed from
    its hours), oldest first, `limit` at a time; again, nothing more."""
    async with usage() as session:
        assert await faq_summary.roll_up_hours(session, local(date(2026, 3, 1)), 100) == 0  # nothing summed yet
    await summed(usage, NOW - timedelta(days=40))  # days up to 21 February, months up to January
    before = local(date(2026, 3, 1), 12)

    async with usage() as session:
        rows = {(row.hour, row.area_code, row.faq_id) for row in (await session.exec(select(FaqUsageRow))).all()}
    removable = {key for key in rows if local(date(2026, 1, 1)) <= key[0] < local(date(2026, 2, 1)) or key[0] == UNDATED}
    removed = 0
    async with usage() as session:
        first = await faq_summary.roll_up_hours(session, before, 50)
        assert first == 50
        oldest = {(row.hour, row.area_code, row.faq_id) for row in (await session.exec(select(FaqUsageRow))).all()}
        assert rows - oldest == set(sorted(removable)[:50])  # the oldest first, `limit` of them
        await session.commit()
        removed += first
        while count := await faq_summary.roll_up_hours(session, before, 500):
            removed += count
            await session.commit()
        assert await faq_summary.roll_up_hours(session, before, 500) == 0  # again: nothing more
    async with usage() as session:
        kept = {(row.hour, row.area_code, row.faq_id) for row in (await session.exec(select(FaqUsageRow))).all()}
    assert rows - kept == removable and removed == len(removable)
    assert all(key[0] >= local(date(2026, 2, 1)) for key in kept)
    async with usage() as session:  # once February is summed, its days before `before` go too, and no later one
        await summed(usage, NOW)
        while await faq_summary.roll_up_hours(session, before, 500):
            await session.commit()
        hours = [row.hour for row in (await session.exec(select(FaqUsageRow))).all()]
    assert min(hours) == min(key[0] for key in kept if key[0] >= local(date(2026, 3, 1)))


async def test_the_scheduler_sums_ended_days(settings, sessions, aiohttp_client) -> None:
    async with sessions() as session:
        session.add_all(usage_rows())
        await session.commit()
    await aiohttp_client(create_app(settings, clock=lambda: NOW))
    for _ in range(100):
        if (date(2026, 4, 2) in [day for span, day in await spans(sessions) if span == "day"]):
            break
        await asyncio.sleep(0.1)
    made = await spans(sessions)
    assert ("day", date(2026, 4, 2)) in made and ("month", date(2026, 3, 1)) in made
    assert ("day", date(2026, 4, 3)) not in made
