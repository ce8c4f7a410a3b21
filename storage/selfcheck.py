"""The household self-check in the database: its indicator questions as staff confirm them, counts
without identity, and the review requests sent to the commune. Callers commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.content import upsert
from storage.core import table_of
from storage.models import SelfCheckCount, SelfCheckQuestionRow, SelfCheckRequest


async def questions(session: AsyncSession) -> list[SelfCheckQuestionRow]:
    """The indicator questions in their order."""
    return list(
        (
            await session.exec(
                select(SelfCheckQuestionRow).order_by(col(SelfCheckQuestionRow.position), col(SelfCheckQuestionRow.id))
            )
        ).all()
    )


async def get_question(session: AsyncSession, question_id: str) -> SelfCheckQuestionRow | None:
    """One question by id."""
    return await session.get(SelfCheckQuestionRow, question_id)


async def write_questions(
    session: AsyncSession, rows: list[SelfCheckQuestionRow], *, overwrite: bool = False
) -> list[str]:
    """Write questions from the file by id, but not over those edited in the dashboard unless
    `overwrite`; return the ids kept as staff left them."""
    edited = (
        set()
        if overwrite
        else set(
            (
                await session.exec(
                    select(SelfCheckQuestionRow.id).where(col(SelfCheckQuestionRow.edited_at).is_not(None))
                )
            ).all()
        )
    )
    kept = []
    for row in rows:
        if row.id in edited:
            kept.append(row.id)
        else:
            await upsert(session, row, "id")
    return kept


async def save_question(session: AsyncSession, row: SelfCheckQuestionRow, data: dict, now: datetime) -> None:
    """Store a question as edited (or confirmed) in the dashboard; `content import` then leaves it alone."""
    row.data = data
    row.updated_at = row.edited_at = now
    session.add(row)
    await session.flush()


async def count(session: AsyncSession, day: date, area_code: str | None, outcome: str) -> None:
    """Count one finished self-check; one statement, so two processes never collide on the key."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = table_of(SelfCheckCount)
    statement = (
        insert(table)
        .values(day=day, area_code=area_code or "", outcome=outcome, count=1)
        .on_conflict_do_update(index_elements=["day", "area_code", "outcome"], set_={"count": table.c["count"] + 1})
    )
    await session.exec(statement)


@dataclass(frozen=True)
class OutcomeCount:
    """Self-checks of one commune ("" unknown) with one outcome in a period, and the requests sent."""

    area_code: str
    outcome: str
    count: int
    requests: int = 0


async def counts(
    session: AsyncSession, since: date, until: date, tz: ZoneInfo, areas: Iterable[str] | None = None
) -> list[OutcomeCount]:
    """Self-checks by commune and outcome between two local days (inclusive), with the review
    requests sent from them; `areas` limits both to some communes."""
    query = (
        select(SelfCheckCount.area_code, SelfCheckCount.outcome, func.sum(SelfCheckCount.count))
        .where(SelfCheckCount.day >= since, SelfCheckCount.day <= until)
        .group_by(SelfCheckCount.area_code, SelfCheckCount.outcome)
    )
    allowed = set(areas) if areas is not None else None
    if allowed is not None:
        query = query.where(col(SelfCheckCount.area_code).in_(allowed))
    checks = {(area, outcome): int(total) for area, outcome, total in (await session.exec(query)).all()}
    start = datetime.combine(since, time(), tzinfo=tz)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=tz)
    requests = (
        select(SelfCheckRequest.area_code, SelfCheckRequest.outcome, func.count())
        .where(SelfCheckRequest.created_at >= start, SelfCheckRequest.created_at < end)
        .group_by(SelfCheckRequest.area_code, SelfCheckRequest.outcome)
    )
    sent: dict[tuple[str, str], int] = {}
    for area, outcome, total in (await session.exec(requests)).all():
        if allowed is None or (area or "") in allowed:
            sent[(area or "", outcome)] = int(total)
    return [
        OutcomeCount(area, outcome, total, sent.get((area, outcome), 0))
        for (area, outcome), total in sorted(checks.items())
    ] + [
        OutcomeCount(area, outcome, 0, total)
        for (area, outcome), total in sorted(sent.items())
        if (area, outcome) not in checks
    ]


async def add_request(
    session: AsyncSession, ticket_id: int, *, area_code: str | None, outcome: str, answers: dict, now: datetime
) -> SelfCheckRequest:
    """Attach a self-check's answers and result to the ticket that asks the commune for a review."""
    row = SelfCheckRequest(ticket_id=ticket_id, area_code=area_code, outcome=outcome, answers=answers, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def request_of(session: AsyncSession, ticket_id: int) -> SelfCheckRequest | None:
    """The self-check a ticket carries, if it is a review request."""
    return await session.get(SelfCheckRequest, ticket_id)


async def requests_of(session: AsyncSession, ticket_ids: Iterable[int]) -> dict[int, SelfCheckRequest]:
    """The self-checks of some tickets, by ticket id."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    rows = (await session.exec(select(SelfCheckRequest).where(col(SelfCheckRequest.ticket_id).in_(ids)))).all()
    return {row.ticket_id: row for row in rows}
