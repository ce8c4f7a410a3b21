"""Read-only queries for the public pages: only aggregates and announcements, never anything about a person
(announced dialogues come from storage.dialogues.upcoming_public).

Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import faq_summary
from storage.models import QuizContest
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
    rows = (
        await session.exec(
            select(QuizContest)
            .where(col(QuizContest.ends_on) >= today)
            .order_by(col(QuizContest.starts_on), col(QuizContest.id))
            .limit(limit)
        )
    ).all()
    return [
        PublicContest(row.id or 0, {str(k): str(v) for k, v in (row.titles or {}).items()}, row.starts_on, row.ends_on)
        for row in rows
    ]


async def answers_by_area(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """FAQ answers the bot gave in the period, per commune of the citizen who read them ("" when
    unknown), from the day and month summaries where they cover the period (storage/faq_summary.py)."""
    sums = await faq_summary.usage_sums(session, scope.start, scope.end, scope.areas, by="area_code")
    return {code: shown for code, (shown, _, _) in sums.items() if shown}
