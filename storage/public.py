"""Read-only queries for the public pages: only aggregates and announcements, never anything about a person
(announced dialogues come from storage.dialogues.upcoming_public).

Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import FaqUsageRow, QuizContest
from storage.stats import Scope


@dataclass(frozen=True)
class PublicContest:
    """A quiz contest period and its titles."""

    id: int
    titles: dict[str, str]
    starts_on: date
    ends_on: date


async def current_contests(session: AsyncSession, today: date, limit: int = 10) -> list[PublicContest]:
    """Quiz contests running today or still to come, soonest first."""
    rows = (await session.exec(
        select(QuizContest).where(col(QuizContest.ends_on) >= today)
        .order_by(col(QuizContest.starts_on), col(QuizContest.id)).limit(limit)
    )).all()
    return [PublicContest(row.id or 0, {str(k): str(v) for k, v in (row.titles or {}).items()}, row.starts_on, row.ends_on)
            for row in rows]


async def answers_by_area(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """FAQ answers the bot gave in the period, per commune of the citizen who read them ("" when unknown)."""
    query = (
        select(FaqUsageRow.area_code, func.sum(FaqUsageRow.shown))
        .where(col(FaqUsageRow.hour) >= scope.start, col(FaqUsageRow.hour) < scope.end)
        .group_by(FaqUsageRow.area_code)
    )
    if scope.areas is not None:
        query = query.where(col(FaqUsageRow.area_code).in_(sorted(scope.areas)))
    return {code or "": int(total or 0) for code, total in (await session.exec(query)).all() if total}
