"""Policy dialogues ("Đối thoại chính sách"): announcing, questions sent in advance as tickets,
upvotes, answers. Never commits; the caller owns the transaction.

A dialogue is for one commune or for the whole province (`area_code` is the province's code, or
None). A question is a ticket of kind `question` plus a `DialogueQuestion` row holding its votes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import table_of
from storage.models import (
    Area,
    Citizen,
    Dialogue,
    DialogueQuestion,
    DialogueStatus,
    DialogueVote,
    Staff,
    StaffRole,
    Ticket,
)

TICKET_TOPIC = "dialogue"


@dataclass(frozen=True)
class PublicDialogue:
    """An upcoming dialogue as anyone may see it: no citizen's data, only the published questions' count."""

    id: int
    topics: dict[str, str]
    officials: str
    place: str
    online_url: str
    area_code: str | None
    held_at: datetime
    questions_close_at: datetime
    questions: int

    def topic(self, locale: str) -> str:
        """The topic in `locale`, else in Vietnamese."""
        return self.topics.get(locale) or self.topics.get("vi", "")


@dataclass(frozen=True)
class RankedQuestion:
    """A question with its ticket, as staff see it in the dialogue's screen."""

    question: DialogueQuestion
    ticket: Ticket


@dataclass(frozen=True)
class CitizenQuestion:
    """A published question of the citizen's area as other citizens see it: text and votes only."""

    ticket_id: int
    text: str
    votes: int
    mine: bool


def _published_count():
    return (
        select(func.count())
        .select_from(DialogueQuestion)
        .where(col(DialogueQuestion.dialogue_id) == col(Dialogue.id), col(DialogueQuestion.published).is_(True))
        .scalar_subquery()
    )


async def upcoming_public(session: AsyncSession, now: datetime, limit: int = 20) -> list[PublicDialogue]:
    """Announced dialogues not yet held (soonest first), for the public page: topic, date, officials,
    place or online link, area, question deadline and how many published questions it has. Nothing
    about who asked; `area_code` is None or the province's code for a province-wide dialogue."""
    rows = (
        await session.exec(
            select(Dialogue, _published_count())
            .where(Dialogue.status == DialogueStatus.announced, col(Dialogue.held_at) >= now)
            .order_by(col(Dialogue.held_at), col(Dialogue.id))
            .limit(limit)
        )
    ).all()
    return [
        PublicDialogue(
            id=cast(int, d.id),
            topics=dict(d.topics),
            officials=d.officials,
            place=d.place,
            online_url=d.online_url,
            area_code=d.area_code,
            held_at=d.held_at,
            questions_close_at=d.questions_close_at,
            questions=int(count),
        )
        for d, count in rows
    ]


def for_area(area_code: str | None) -> ColumnElement[bool]:
    """Dialogues a citizen of `area_code` may join: province-wide ones (no area, or the commune's
    parent) and their own commune's."""
    wide = [
        col(Dialogue.area_code).is_(None),
        col(Dialogue.area_code).in_(select(Area.code).where(col(Area.level) == "province")),
    ]
    if area_code:
        parent = select(Area.parent_code).where(Area.code == area_code)
        return or_(*wide, col(Dialogue.area_code) == area_code, col(Dialogue.area_code).in_(parent))
    return or_(*wide)


async def upcoming_for_area(
    session: AsyncSession, area_code: str | None, now: datetime, limit: int = 10
) -> list[Dialogue]:
    """Announced, not yet held dialogues for a citizen of `area_code`, soonest first."""
    return list(
        (
            await session.exec(
                select(Dialogue)
                .where(Dialogue.status == DialogueStatus.announced, col(Dialogue.held_at) >= now, for_area(area_code))
                .order_by(col(Dialogue.held_at), col(Dialogue.id))
                .limit(limit)
            )
        ).all()
    )


async def get_for_area(session: AsyncSession, dialogue_id: int, area_code: str | None) -> Dialogue | None:
    """The dialogue if a citizen of `area_code` may see it."""
    return (await session.exec(select(Dialogue).where(Dialogue.id == dialogue_id, for_area(area_code)))).first()


def is_open(dialogue: Dialogue, now: datetime) -> bool:
    """Whether questions and votes are still taken."""
    return dialogue.status == DialogueStatus.announced and now < dialogue.questions_close_at


async def create_dialogue(
    session: AsyncSession,
    *,
    topics: dict[str, str],
    held_at: datetime,
    questions_close_at: datetime,
    area_code: str | None,
    officials: str = "",
    place: str = "",
    online_url: str = "",
    now: datetime,
    author: str = "",
    author_staff_id: int | None = None,
) -> Dialogue:
    """Record an announced dialogue (flushed, so it has an id)."""
    if not topics.get("vi"):
        raise ValueError("a dialogue needs a Vietnamese topic")
    if questions_close_at > held_at:
        raise ValueError("questions must close before the dialogue is held")
    dialogue = Dialogue(
        topics=topics,
        held_at=held_at,
        questions_close_at=questions_close_at,
        area_code=area_code,
        officials=officials,
        place=place,
        online_url=online_url,
        author=author,
        author_staff_id=author_staff_id,
        created_at=now,
    )
    session.add(dialogue)
    await session.flush()
    return dialogue


async def add_question(session: AsyncSession, dialogue: Dialogue, ticket: Ticket) -> DialogueQuestion:
    """Link a question ticket to a dialogue."""
    assert ticket.id is not None and dialogue.id is not None, "stored rows"
    question = DialogueQuestion(ticket_id=ticket.id, dialogue_id=dialogue.id)
    session.add(question)
    await session.flush()
    return question


async def questions_for_citizen(
    session: AsyncSession, dialogue_id: int, area_code: str | None, citizen_id: int, limit: int = 10
) -> list[CitizenQuestion]:
    """Published questions of the citizen's area for this dialogue, most votes first."""
    area = col(Ticket.area_code).is_(None) if area_code is None else col(Ticket.area_code) == area_code
    rows = (
        await session.exec(
            select(DialogueQuestion.ticket_id, Ticket.body, DialogueQuestion.votes, Ticket.citizen_id)
            .join(Ticket, col(Ticket.id) == col(DialogueQuestion.ticket_id))
            .where(DialogueQuestion.dialogue_id == dialogue_id, col(DialogueQuestion.published).is_(True), area)
            .order_by(col(DialogueQuestion.votes).desc(), col(Ticket.created_at), col(Ticket.id))
            .limit(limit)
        )
    ).all()
    return [CitizenQuestion(ticket_id, body, votes, owner == citizen_id) for ticket_id, body, votes, owner in rows]


async def question_with_ticket(session: AsyncSession, ticket_id: int) -> tuple[DialogueQuestion, Ticket] | None:
    """A question and its ticket."""
    row = (
        await session.exec(
            select(DialogueQuestion, Ticket)
            .join(Ticket, col(Ticket.id) == col(DialogueQuestion.ticket_id))
            .where(DialogueQuestion.ticket_id == ticket_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def has_voted(session: AsyncSession, ticket_id: int, citizen_id: int) -> bool:
    """Whether the citizen already upvoted the question."""
    return (
        await session.exec(
            select(DialogueVote.ticket_id).where(
                DialogueVote.ticket_id == ticket_id, DialogueVote.citizen_id == citizen_id
            )
        )
    ).first() is not None


async def vote(session: AsyncSession, ticket_id: int, citizen_id: int, now: datetime) -> bool:
    """Upvote a question once: True when this vote counted, False when the citizen had already voted.

    One INSERT … ON CONFLICT DO NOTHING, so two presses at once (or two processes) count once.
    """
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    table = table_of(DialogueVote)
    inserted = (
        await session.exec(
            dialect.insert(table)
            .values(ticket_id=ticket_id, citizen_id=citizen_id, voted_at=now)
            .on_conflict_do_nothing(index_elements=["ticket_id", "citizen_id"])
            .returning(table.c.ticket_id)
        )
    ).first()
    if inserted is None:
        return False
    await session.exec(
        update(DialogueQuestion)
        .where(col(DialogueQuestion.ticket_id) == ticket_id)
        .values(votes=DialogueQuestion.votes + 1)
    )
    return True


async def voters(session: AsyncSession, ticket_id: int) -> list[int]:
    """Citizens who upvoted a question, in the order they voted."""
    return list(
        (
            await session.exec(
                select(DialogueVote.citizen_id)
                .where(DialogueVote.ticket_id == ticket_id)
                .order_by(col(DialogueVote.voted_at), col(DialogueVote.citizen_id))
            )
        ).all()
    )


def visible_to(staff: Staff) -> ColumnElement[bool]:
    """Dialogues a staff member may manage: all for admins and province staff, their commune's for
    commune staff."""
    if not staff.active:
        return col(Dialogue.id).is_(None)
    if staff.role in (StaffRole.admin, StaffRole.province):
        return col(Dialogue.id).is_not(None)
    if staff.role == StaffRole.commune and staff.area_code:
        return col(Dialogue.area_code) == staff.area_code
    return col(Dialogue.id).is_(None)


async def list_for_staff(session: AsyncSession, staff: Staff, limit: int = 100) -> list[tuple[Dialogue, int]]:
    """Dialogues in the staff member's scope with their number of questions, newest date first."""
    count = (
        select(func.count())
        .select_from(DialogueQuestion)
        .where(col(DialogueQuestion.dialogue_id) == col(Dialogue.id))
        .scalar_subquery()
    )
    rows = (
        await session.exec(
            select(Dialogue, count)
            .where(visible_to(staff))
            .order_by(col(Dialogue.held_at).desc(), col(Dialogue.id).desc())
            .limit(limit)
        )
    ).all()
    return [(dialogue, int(n)) for dialogue, n in rows]


async def get_for_staff(session: AsyncSession, staff: Staff, dialogue_id: int) -> Dialogue | None:
    """The dialogue if the staff member may manage it; None otherwise (no hint that it exists)."""
    return (await session.exec(select(Dialogue).where(Dialogue.id == dialogue_id, visible_to(staff)))).first()


async def ranked_questions(session: AsyncSession, dialogue_id: int) -> list[RankedQuestion]:
    """All questions of a dialogue, hidden ones included: most votes first, then the earliest."""
    rows = (
        await session.exec(
            select(DialogueQuestion, Ticket)
            .join(Ticket, col(Ticket.id) == col(DialogueQuestion.ticket_id))
            .where(DialogueQuestion.dialogue_id == dialogue_id)
            .order_by(col(DialogueQuestion.votes).desc(), col(Ticket.created_at), col(Ticket.id))
        )
    ).all()
    return [RankedQuestion(question, ticket) for question, ticket in rows]


async def supports_from(session: AsyncSession, dialogue_id: int, channel: str) -> dict[int, int]:
    """How many of each question's upvotes came from citizens of one channel (by ticket id; questions
    with none are left out)."""
    rows = (
        await session.exec(
            select(DialogueVote.ticket_id, func.count())
            .join(DialogueQuestion, col(DialogueQuestion.ticket_id) == col(DialogueVote.ticket_id))
            .join(Citizen, col(Citizen.id) == col(DialogueVote.citizen_id))
            .where(DialogueQuestion.dialogue_id == dialogue_id, Citizen.channel == channel)
            .group_by(col(DialogueVote.ticket_id))
        )
    ).all()
    return {int(ticket_id): int(count) for ticket_id, count in rows}


async def answered_questions(session: AsyncSession, dialogue_id: int) -> list[RankedQuestion]:
    """The questions with an answer written, in rank order (what publishing sends)."""
    return [row for row in await ranked_questions(session, dialogue_id) if (row.question.answer or "").strip()]
