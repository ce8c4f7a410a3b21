"""Polls ("Ý kiến của bà con"): creating them, opening and closing them once, recording one answer
per citizen, and counting the results. Never commits.

Opening and closing are claims: a conditional UPDATE on the status, so with several processes
only the one whose update changed the row acts on it (like `broadcasts.claim_due`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.broadcasts import stored_target
from storage.core import table_of
from storage.models import Citizen, OutboxMessage, OutboxStatus, Poll, PollAnswer, PollStatus
from storage.outbox import PRIORITY_BULK

MIN_CHOICES = 2
MAX_CHOICES = 6
MAX_ANSWER = 1000
DIMENSIONS = ("area_code", "household_status", "channel")


def _dialect(session: AsyncSession):
    return postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite


async def create_poll(
    session: AsyncSession,
    *,
    texts: dict[str, str],
    choices: list[dict[str, str]],
    free_text: bool,
    target: dict,
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
    author: str = "",
    author_staff_id: int | None = None,
) -> Poll:
    """Record a poll to open at `opens_at` (the caller commits). `choices` are {locale: label}."""
    if not texts.get("vi"):
        raise ValueError("a poll needs a Vietnamese question")
    if free_text == bool(choices) or not free_text and not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
        raise ValueError("a poll has either 2-6 choices or free-text answers")
    if closes_at <= opens_at:
        raise ValueError("a poll must close after it opens")
    poll = Poll(
        texts=texts,
        choices=choices,
        free_text=free_text,
        target=stored_target(target),
        opens_at=opens_at,
        closes_at=closes_at,
        author=author,
        author_staff_id=author_staff_id,
        created_at=now,
    )
    session.add(poll)
    await session.flush()
    return poll


async def _claim(
    session: AsyncSession, candidates: Sequence[Poll], from_status: Collection[str], **values: object
) -> list[Poll]:
    """The candidates whose status this caller alone moved (a conditional UPDATE per poll)."""
    claimed = []
    for poll in candidates:
        result = await session.exec(
            update(Poll).where(col(Poll.id) == poll.id, col(Poll.status).in_(list(from_status))).values(**values)
        )
        if result.rowcount:
            claimed.append(poll)
    for poll in claimed:
        await session.refresh(poll)
    return claimed


async def claim_to_open(session: AsyncSession, now: datetime) -> list[Poll]:
    """Drafts whose opening time has come (and whose closing time has not), marked open by this caller alone."""
    due = (
        await session.exec(
            select(Poll)
            .where(Poll.status == PollStatus.draft, col(Poll.opens_at) <= now, col(Poll.closes_at) > now)
            .order_by(col(Poll.id))
        )
    ).all()
    return await _claim(session, due, [PollStatus.draft], status=PollStatus.open, opened_at=now)


async def claim_to_close(session: AsyncSession, now: datetime) -> list[Poll]:
    """Polls whose closing time has come, marked closed by this caller alone (a draft that never
    opened closes too, without having been delivered)."""
    due = (
        await session.exec(
            select(Poll)
            .where(col(Poll.status).in_([PollStatus.draft, PollStatus.open]), col(Poll.closes_at) <= now)
            .order_by(col(Poll.id))
        )
    ).all()
    return await _claim(session, due, [PollStatus.draft, PollStatus.open], status=PollStatus.closed)


async def open_polls(session: AsyncSession, now: datetime) -> list[Poll]:
    """Polls taking answers right now, newest first."""
    return list(
        (
            await session.exec(
                select(Poll)
                .where(Poll.status == PollStatus.open, col(Poll.closes_at) > now)
                .order_by(col(Poll.id).desc())
            )
        ).all()
    )


def is_open(poll: Poll, now: datetime) -> bool:
    """Whether the poll takes answers at `now` (an open poll past its closing time no longer does)."""
    return poll.status == PollStatus.open and now < poll.closes_at


async def answer_of(session: AsyncSession, poll_id: int, citizen_id: int) -> PollAnswer | None:
    """The citizen's current answer to a poll."""
    return (
        await session.exec(select(PollAnswer).where(PollAnswer.poll_id == poll_id, PollAnswer.citizen_id == citizen_id))
    ).first()


async def record_answer(
    session: AsyncSession,
    poll: Poll,
    citizen: Citizen,
    *,
    now: datetime,
    choice: int | None = None,
    text: str | None = None,
) -> None:
    """Store the citizen's answer, replacing an earlier one; commune, household status and channel
    are copied from the citizen now. One statement, so two presses at once never collide on the key."""
    if poll.free_text != (text is not None) or (choice is not None and not 0 <= choice < len(poll.choices)):
        raise ValueError("this answer does not fit the poll")
    table = table_of(PollAnswer)
    values = {
        "choice": choice,
        "text": text[:MAX_ANSWER] if text is not None else None,
        "area_code": citizen.area_code,
        "household_status": citizen.household_status,
        "channel": citizen.channel,
        "updated_at": now,
    }
    await session.exec(
        _dialect(session)
        .insert(table)
        .values(poll_id=poll.id, citizen_id=citizen.id, answered_at=now, **values)
        .on_conflict_do_update(index_elements=["poll_id", "citizen_id"], set_=values)
    )


@dataclass(frozen=True)
class Tally:
    """Answers counted by one dimension: {group: {choice index (None for free text): count}}."""

    groups: dict[str, dict[int | None, int]]

    def total(self, group: str) -> int:
        """All answers of one group."""
        return sum(self.groups.get(group, {}).values())

    def overall(self) -> dict[int | None, int]:
        """The counts of every group added up."""
        summed: dict[int | None, int] = {}
        for counts in self.groups.values():
            for choice, count in counts.items():
                summed[choice] = summed.get(choice, 0) + count
        return summed


async def tally(session: AsyncSession, poll_id: int, dimension: str | None = None) -> Tally:
    """Count a poll's answers by commune (`area_code`), `household_status` or `channel`; with no
    dimension, all answers in one group "". A missing commune is the group ""."""
    if dimension is not None and dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    if dimension is None:
        rows = (
            await session.exec(
                select(col(PollAnswer.choice), func.count())
                .where(col(PollAnswer.poll_id) == poll_id)
                .group_by(col(PollAnswer.choice))
            )
        ).all()
        return Tally({"": {choice: int(count) for choice, count in rows}} if rows else {})
    return (await tallies(session, poll_id, [dimension]))[dimension]


async def tallies(session: AsyncSession, poll_id: int, dimensions: Sequence[str] = DIMENSIONS) -> dict[str, Tally]:
    """`tally` by each of `dimensions`, from one pass over the poll's answers: they are counted by
    every dimension together, and those few groups are added up here for each dimension."""
    if unknown := [dimension for dimension in dimensions if dimension not in DIMENSIONS]:
        raise ValueError(f"unknown dimensions {unknown!r}")
    keys = [func.coalesce(getattr(PollAnswer, dimension), "") for dimension in dimensions]
    statement = select(*keys, col(PollAnswer.choice), func.count())  # type: ignore[call-overload]  # SQLModel's select() is typed for at most four columns
    grouped = (
        await session.exec(statement.where(col(PollAnswer.poll_id) == poll_id).group_by(*keys, col(PollAnswer.choice)))
    ).all()
    found: dict[str, dict[str, dict[int | None, int]]] = {dimension: {} for dimension in dimensions}
    for *groups, choice, count in grouped:
        for dimension, key in zip(dimensions, groups, strict=True):
            counts = found[dimension].setdefault(str(key or ""), {})
            counts[choice] = counts.get(choice, 0) + int(count)
    return {dimension: Tally(groups) for dimension, groups in found.items()}


async def texts_of(session: AsyncSession, poll_id: int, *, limit: int = 200, offset: int = 0) -> list[PollAnswer]:
    """Free-text answers, newest first (staff see them without any name)."""
    return list(
        (
            await session.exec(
                select(PollAnswer)
                .where(PollAnswer.poll_id == poll_id, col(PollAnswer.text).is_not(None))
                .order_by(col(PollAnswer.updated_at).desc(), col(PollAnswer.id).desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
    )


async def participants(session: AsyncSession, poll_id: int) -> list[tuple[Citizen, PollAnswer]]:
    """Who answered and can still be reached (consenting, not blocked), with their answers."""
    rows = (
        await session.exec(
            select(Citizen, PollAnswer)
            .join(PollAnswer, col(PollAnswer.citizen_id) == col(Citizen.id))
            .where(
                PollAnswer.poll_id == poll_id,
                col(Citizen.unreachable_at).is_(None),
                col(Citizen.consent_at).is_not(None),
            )
            .order_by(col(PollAnswer.id))
        )
    ).all()
    return [(citizen, answer) for citizen, answer in rows]


async def queue_messages(session: AsyncSession, messages: Sequence[tuple[Citizen, dict, str]], now: datetime) -> int:
    """Queue bulk messages (citizen, payload, dedupe key) in one statement, skipping keys already
    queued; return how many were new. Bulk: they wait during quiet hours like notices."""
    if not messages:
        return 0
    table = table_of(OutboxMessage)
    rows = [
        {
            "citizen_id": citizen.id,
            "channel": citizen.channel,
            "chat_id": citizen.channel_user_id,
            "payload": payload,
            "priority": PRIORITY_BULK,
            "status": OutboxStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "dedupe_key": key,
            "bulk": True,
            "created_at": now,
        }
        for citizen, payload, key in messages
    ]
    result = await session.exec(
        _dialect(session).insert(table).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return int(result.rowcount or 0)


def target_areas(poll: Poll) -> list[str]:
    """The area codes a poll targets (empty: the whole province)."""
    return [str(code) for code in (poll.target or {}).get("areas") or []]


def visible_to(poll: Poll, areas: Collection[str] | None) -> bool:
    """Whether staff limited to `areas` (None: everywhere) may see the poll: it must ask only their
    areas, so a commune officer never sees another commune's answers."""
    if areas is None:
        return True
    targeted = target_areas(poll)
    return bool(targeted) and all(code in areas for code in targeted)


async def list_polls(session: AsyncSession, areas: Collection[str] | None, *, limit: int = 50) -> list[Poll]:
    """The newest polls visible to staff limited to `areas`, with the answers each has."""
    query = select(Poll).order_by(col(Poll.id).desc())
    if areas is not None:
        if not areas:
            return []
        text = cast(Poll.target, String)  # a portable prefilter, made exact by visible_to
        query = query.where(or_(*[text.like(f'%"{code}"%') for code in sorted(areas)]))
    found = [poll for poll in (await session.exec(query.limit(limit * 4))).all() if visible_to(poll, areas)]
    return found[:limit]


async def answer_counts(session: AsyncSession, poll_ids: Collection[int]) -> dict[int, int]:
    """How many citizens answered each poll."""
    if not poll_ids:
        return {}
    rows = (
        await session.exec(
            select(col(PollAnswer.poll_id), func.count())
            .where(col(PollAnswer.poll_id).in_(list(poll_ids)))
            .group_by(col(PollAnswer.poll_id))
        )
    ).all()
    return {poll_id: int(count) for poll_id, count in rows}
