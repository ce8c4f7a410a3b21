"""Repository functions for the policy quiz: questions, rounds (plays), contests and their
leaderboard by commune. Portable SQL (SQLite and PostgreSQL); never commits.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.content import upsert
from storage.core import run, table_of
from storage.models import Citizen, QuizAnswerCount, QuizContest, QuizPlay, QuizQuestionRow

ROUND = 5


# --- questions ----------------------------------------------------------------------------------


async def published_questions(session: AsyncSession) -> list[QuizQuestionRow]:
    """The published questions, in file order."""
    rows = await session.exec(
        select(QuizQuestionRow)
        .where(col(QuizQuestionRow.published).is_(True))
        .order_by(col(QuizQuestionRow.position), col(QuizQuestionRow.id))
    )
    return list(rows.all())


async def drawable_questions(session: AsyncSession, served_faq_ids: Iterable[str]) -> list[QuizQuestionRow]:
    """The questions rounds draw from on a day: published ones citing one of `served_faq_ids`, the
    FAQ entries citizens are given that day (`Library.served`), in file order. One query over the
    questions; rounds are not read."""
    rows = await session.exec(
        select(QuizQuestionRow)
        .where(col(QuizQuestionRow.published).is_(True), col(QuizQuestionRow.faq_id).in_(sorted(set(served_faq_ids))))
        .order_by(col(QuizQuestionRow.position), col(QuizQuestionRow.id))
    )
    return list(rows.all())


async def all_questions(session: AsyncSession) -> list[QuizQuestionRow]:
    """Every question, published or not, in file order (ones made in the dashboard last)."""
    rows = await session.exec(select(QuizQuestionRow).order_by(col(QuizQuestionRow.position), col(QuizQuestionRow.id)))
    return list(rows.all())


async def get_question(session: AsyncSession, question_id: str) -> QuizQuestionRow | None:
    """A question by id."""
    return await session.get(QuizQuestionRow, question_id)


async def save_question(session: AsyncSession, row: QuizQuestionRow, now: datetime) -> QuizQuestionRow:
    """Insert or update a question (a new one goes last, an edited one keeps its place), marked as
    edited in the dashboard so that `content import` leaves it alone."""
    stored = await session.get(QuizQuestionRow, row.id)
    if stored is not None:
        row.position = stored.position
    else:
        row.position = int((await session.exec(select(func.max(QuizQuestionRow.position)))).one() or 0) + 1
    row.updated_at = row.edited_at = now
    saved = await upsert(session, row, "id")
    await session.flush()
    return saved


async def set_question_published(session: AsyncSession, row: QuizQuestionRow, published: bool, now: datetime) -> None:
    """Put a question in the quiz or take it out (rounds that drew it keep its id); an edit in the
    dashboard, as a save is."""
    row.published = published
    row.updated_at = row.edited_at = now
    session.add(row)
    await session.flush()


@dataclass(frozen=True)
class AnswerCount:
    """How often a question was answered, and how often with the choice that is right now."""

    answered: int
    right: int

    @property
    def share_right(self) -> float:
        """The share of answers that were right (0 when nobody answered)."""
        return self.right / self.answered if self.answered else 0.0


async def answer_counts(session: AsyncSession, right_choice: dict[str, int]) -> dict[str, AnswerCount]:
    """For every question answered in any round: the answers given, and how many picked the choice
    `right_choice` names for it now (counted per choice as answers are recorded, so a question whose
    right choice is edited is judged by the new one; rounds are not read)."""
    answered: dict[str, int] = {}
    right: dict[str, int] = {}
    rows = await session.exec(select(QuizAnswerCount.question_id, QuizAnswerCount.choice, QuizAnswerCount.answers))
    for question_id, choice, count in rows.all():
        answered[question_id] = answered.get(question_id, 0) + count
        if right_choice.get(question_id) == choice:
            right[question_id] = right.get(question_id, 0) + count
    return {
        question_id: AnswerCount(count, right.get(question_id, 0)) for question_id, count in answered.items() if count
    }


async def count_answer(session: AsyncSession, question_id: str, choice: int) -> None:
    """Add one to the answers that picked `choice` for the question. One statement, so two processes
    counting the same choice never collide on the key; it commits or rolls back with the round."""
    dialect = "postgresql" if session.bind is not None and session.bind.dialect.name == "postgresql" else "sqlite"
    await run(session, _count_statement(dialect), params={"question_id": question_id, "choice": choice})


@lru_cache(maxsize=2)
def _count_statement(dialect: str) -> Executable:
    """The upsert of `count_answer` for a dialect, built once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = table_of(QuizAnswerCount)
    return (
        insert(table)
        .values(question_id=bindparam("question_id"), choice=bindparam("choice"), answers=1)
        .on_conflict_do_update(index_elements=["question_id", "choice"], set_={"answers": table.c.answers + 1})
    )


async def unpublish_missing(session: AsyncSession, keep: Iterable[str], *, edited_too: bool = False) -> int:
    """Unpublish questions that are not in the file (rounds that used them keep their ids), except
    those edited in the dashboard unless `edited_too`; return how many."""
    spare = () if edited_too else (col(QuizQuestionRow.edited_at).is_(None),)
    result = await session.exec(
        update(QuizQuestionRow)
        .where(col(QuizQuestionRow.id).not_in(list(keep)), col(QuizQuestionRow.published).is_(True), *spare)
        .values(published=False, edited_at=None)
    )
    return int(result.rowcount or 0)


async def seen_questions(session: AsyncSession, citizen_id: int) -> set[str]:
    """The ids of every question drawn for this citizen in any round so far."""
    rows = await session.exec(select(QuizPlay.question_ids).where(QuizPlay.citizen_id == citizen_id))
    return {str(question) for ids in rows.all() for question in ids}


def choose(eligible: Sequence[str], seen: set[str], count: int = ROUND, rng: random.Random | None = None) -> list[str]:
    """`count` questions, unseen ones first: once a citizen has seen them all, seen ones fill up the round."""
    rng = rng or secrets.SystemRandom()
    fresh = [question for question in eligible if question not in seen]
    chosen = rng.sample(fresh, min(count, len(fresh)))
    if len(chosen) < count:
        rest = [question for question in eligible if question not in chosen]
        chosen += rng.sample(rest, min(count - len(chosen), len(rest)))
    return chosen


async def draw(
    session: AsyncSession,
    citizen_id: int,
    eligible: Sequence[str],
    count: int = ROUND,
    rng: random.Random | None = None,
) -> list[str]:
    """Questions for a new round of this citizen, among `eligible`: ones they have not seen before
    until they have seen them all."""
    return choose(eligible, await seen_questions(session, citizen_id), count, rng)


# --- rounds -------------------------------------------------------------------------------------


async def start_play(
    session: AsyncSession,
    citizen: Citizen,
    question_ids: list[str],
    now: datetime,
) -> QuizPlay:
    """Record a new round; the commune is copied now so the leaderboard outlives the citizen's data."""
    play = QuizPlay(citizen_id=citizen.id, area_code=citizen.area_code, question_ids=list(question_ids), started_at=now)
    session.add(play)
    await session.flush()
    return play


async def current_play(session: AsyncSession, citizen_id: int) -> QuizPlay | None:
    """The citizen's latest round, if it is still unfinished (older unfinished rounds were abandoned).
    On PostgreSQL the row stays locked until the transaction ends, so the same answer delivered
    twice at once (two processes) is recorded and counted once: the second sees it answered."""
    latest = (
        await session.exec(
            select(QuizPlay)
            .where(QuizPlay.citizen_id == citizen_id)
            .order_by(col(QuizPlay.id).desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    return latest if latest is not None and latest.finished_at is None else None


async def record_answer(
    session: AsyncSession,
    play: QuizPlay,
    choice: int,
    correct: bool,
    now: datetime,
    contest_id: int | None,
) -> bool:
    """Add an answer to the round and count it for its question (`quiz_answer_count`, in the same
    transaction); when it was the last one, finish the round (counted in the contest running now,
    if any). Returns whether the round is finished."""
    await count_answer(session, play.question_ids[len(play.answers)], choice)
    play.answers = [*play.answers, choice]
    if correct:
        play.score += 1
    return finish_if_answered(play, now, contest_id)


def finish_if_answered(play: QuizPlay, now: datetime, contest_id: int | None) -> bool:
    """Finish the round once every question in it has an answer: counted in the contest running
    now, if any, unless it has no answer at all. Returns whether the round is finished."""
    if len(play.answers) < len(play.question_ids):
        return False
    play.finished_at = now
    play.contest_id = contest_id if play.answers else None
    return True


def drop_undrawable(play: QuizPlay, drawable: Container[str]) -> bool:
    """Take out of the round the questions not answered yet that are no longer `drawable` (the FAQ
    entry they cite stopped being in force, or went back to review, since the round began), so the
    round can still be finished and counted. Returns whether any was taken out."""
    answered = len(play.answers)
    kept = [question for index, question in enumerate(play.question_ids) if index < answered or question in drawable]
    if len(kept) == len(play.question_ids):
        return False
    play.question_ids = kept
    return True


async def earlier_name_choice(session: AsyncSession, citizen_id: int, contest_id: int, play_id: int) -> str | None:
    """What the citizen said about showing their name in an earlier round of this contest: the
    name, "" (no), or None (not asked yet)."""
    found = (
        await session.exec(
            select(QuizPlay.public_name)
            .where(
                QuizPlay.citizen_id == citizen_id,
                QuizPlay.contest_id == contest_id,
                QuizPlay.id != play_id,
                col(QuizPlay.public_name).is_not(None),
            )
            .order_by(col(QuizPlay.id).desc())
            .limit(1)
        )
    ).first()
    return found


# --- contests -----------------------------------------------------------------------------------


async def contest_on(session: AsyncSession, day: date) -> QuizContest | None:
    """The contest running on this local day (the earliest created, should two overlap)."""
    return (
        await session.exec(
            select(QuizContest)
            .where(col(QuizContest.starts_on) <= day, col(QuizContest.ends_on) >= day)
            .order_by(col(QuizContest.id))
            .limit(1)
        )
    ).first()


async def overlapping(session: AsyncSession, starts_on: date, ends_on: date) -> QuizContest | None:
    """A contest whose period shares a day with this one."""
    return (
        await session.exec(
            select(QuizContest)
            .where(col(QuizContest.starts_on) <= ends_on, col(QuizContest.ends_on) >= starts_on)
            .limit(1)
        )
    ).first()


async def list_contests(session: AsyncSession) -> list[QuizContest]:
    """Every contest, the latest first."""
    return list(
        (
            await session.exec(
                select(QuizContest).order_by(col(QuizContest.starts_on).desc(), col(QuizContest.id).desc())
            )
        ).all()
    )


async def to_announce(session: AsyncSession, today: date, since: date) -> list[QuizContest]:
    """Contests that ended before `today` (and not before `since`) whose results notice is not made yet."""
    return list(
        (
            await session.exec(
                select(QuizContest)
                .where(
                    col(QuizContest.ends_on) < today,
                    col(QuizContest.ends_on) >= since,
                    col(QuizContest.announce_broadcast_id).is_(None),
                )
                .order_by(col(QuizContest.id))
            )
        ).all()
    )


@dataclass(frozen=True)
class CommuneResult:
    """One commune's line on a contest's leaderboard."""

    area_code: str
    participants: int
    plays: int
    average: float
    subscribers: int
    subscribed_participants: int

    @property
    def share(self) -> float:
        """The share of the commune's subscribers who played (0 when it has none)."""
        return self.subscribed_participants / self.subscribers if self.subscribers else 0.0


def _finished_in(contest_id: int):
    return (
        QuizPlay.contest_id == contest_id,
        col(QuizPlay.finished_at).is_not(None),
        col(QuizPlay.area_code).is_not(None),
    )


async def leaderboard(session: AsyncSession, contest_id: int, areas: set[str] | None = None) -> list[CommuneResult]:
    """Communes whose citizens finished rounds in the contest, best first: by the share of their
    subscribers who took part, then the average score, then the number of participants. `areas`
    limits it to some communes (None: all). A citizen who deleted their data still counts, once
    per round (their rounds are no longer linked to them)."""
    scope = (col(QuizPlay.area_code).in_(sorted(areas)),) if areas is not None else ()
    person = func.coalesce(QuizPlay.citizen_id, -col(QuizPlay.id))
    rows = (
        await session.exec(
            select(QuizPlay.area_code, func.count(func.distinct(person)), func.count(), func.avg(QuizPlay.score))
            .where(*_finished_in(contest_id), *scope)
            .group_by(QuizPlay.area_code)
        )
    ).all()
    codes = [str(row[0]) for row in rows]
    subscribers = dict(
        (
            await session.exec(
                select(Citizen.area_code, func.count())
                .where(
                    col(Citizen.subscribed).is_(True),
                    col(Citizen.consent_at).is_not(None),
                    col(Citizen.area_code).in_(codes),
                )
                .group_by(Citizen.area_code)
            )
        ).all()
    )
    playing = dict(
        (
            await session.exec(
                select(Citizen.area_code, func.count(func.distinct(Citizen.id)))
                .join(QuizPlay, col(QuizPlay.citizen_id) == col(Citizen.id))
                .where(
                    *_finished_in(contest_id),
                    col(Citizen.subscribed).is_(True),
                    col(Citizen.consent_at).is_not(None),
                    col(Citizen.area_code) == col(QuizPlay.area_code),
                    col(Citizen.area_code).in_(codes),
                )
                .group_by(Citizen.area_code)
            )
        ).all()
    )
    results = [
        CommuneResult(
            str(code),
            int(people),
            int(plays),
            float(average or 0),
            int(subscribers.get(code, 0)),
            int(playing.get(code, 0)),
        )
        for code, people, plays, average in rows
    ]
    return sorted(results, key=lambda r: (-r.share, -r.average, -r.participants, r.area_code))


async def public_players(
    session: AsyncSession, contest_id: int, area_code: str, limit: int = 20
) -> list[tuple[str, int]]:
    """Players of a commune who agreed to show their name, with their best score, best first."""
    person = func.coalesce(QuizPlay.citizen_id, -col(QuizPlay.id))
    rows = (
        await session.exec(
            select(QuizPlay.public_name, func.max(QuizPlay.score))
            .where(
                *_finished_in(contest_id),
                QuizPlay.area_code == area_code,
                col(QuizPlay.public_name).is_not(None),
                QuizPlay.public_name != "",
            )
            .group_by(person, col(QuizPlay.public_name))
            .order_by(func.max(QuizPlay.score).desc(), col(QuizPlay.public_name))
            .limit(limit)
        )
    ).all()
    return [(str(name), int(best)) for name, best in rows]


async def score_counts(session: AsyncSession, contest_id: int, area_code: str) -> dict[int, int]:
    """How many finished rounds of a commune in the contest got each score."""
    rows = (
        await session.exec(
            select(QuizPlay.score, func.count())
            .where(*_finished_in(contest_id), QuizPlay.area_code == area_code)
            .group_by(col(QuizPlay.score))
        )
    ).all()
    return {int(score): int(count) for score, count in rows}
