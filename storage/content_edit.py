"""Repository functions for editing content in the dashboard: FAQ rows, stories, unanswered
questions, and the "content version" other processes compare to know when to rebuild. Never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.content import upsert
from storage.models import FaqRow, StoryRow, UnansweredQuestion

TICK = timedelta(microseconds=1)


async def content_version(session: AsyncSession) -> str:
    """A cheap fingerprint of the stored FAQ entries and stories: it changes with every save."""
    parts = []
    for table in (FaqRow, StoryRow):
        latest, count = (await session.exec(select(func.max(table.updated_at), func.count()).select_from(table))).one()
        parts.append(f"{latest.isoformat() if isinstance(latest, datetime) else latest or '-'}/{count}")
    return " ".join(parts)


async def _stamp(session: AsyncSession, table: type[FaqRow] | type[StoryRow], now: datetime) -> datetime:
    """`now`, or just after the newest stamp when the clock has not moved on: every save must
    change the version, even two saves within the same clock reading."""
    latest = (await session.exec(select(func.max(table.updated_at)))).one()
    if isinstance(latest, datetime) and latest.tzinfo is None:
        latest = latest.replace(tzinfo=now.tzinfo)
    return max(now, latest + TICK) if isinstance(latest, datetime) else now


async def _next_position(session: AsyncSession, table: type[FaqRow] | type[StoryRow]) -> int:
    latest = (await session.exec(select(func.max(table.position)))).one()
    return (latest or 0) + 1


async def get_faq(session: AsyncSession, faq_id: str) -> FaqRow | None:
    """An FAQ row by id."""
    return await session.get(FaqRow, faq_id)


async def get_story(session: AsyncSession, story_id: str) -> StoryRow | None:
    """A story row by id."""
    return await session.get(StoryRow, story_id)


async def save_faq(session: AsyncSession, row: FaqRow, now: datetime) -> FaqRow:
    """Insert or update an FAQ row (a new one goes last, an edited one keeps its place), marked as
    edited in the dashboard so that `content import` leaves it alone."""
    stored = await session.get(FaqRow, row.id)
    row.position = stored.position if stored is not None else await _next_position(session, FaqRow)
    row.updated_at = await _stamp(session, FaqRow, now)
    row.edited_at = now
    saved = await upsert(session, row, "id")
    await session.flush()
    return saved


async def save_story(session: AsyncSession, row: StoryRow, now: datetime) -> StoryRow:
    """Insert or update a story row as `save_faq` does an FAQ row."""
    stored = await session.get(StoryRow, row.id)
    row.position = stored.position if stored is not None else await _next_position(session, StoryRow)
    if (
        stored is not None and row.consent is None
    ):  # the content editor's form does not carry a real story's consent and photos
        row.consent, row.photos = stored.consent, stored.photos
    row.updated_at = await _stamp(session, StoryRow, now)
    row.edited_at = now
    saved = await upsert(session, row, "id")
    await session.flush()
    return saved


async def set_published(session: AsyncSession, row: FaqRow | StoryRow, published: bool, now: datetime) -> None:
    """Publish or withdraw an FAQ entry or a story (an edit in the dashboard, as a save is)."""
    row.published = published
    row.updated_at = await _stamp(session, type(row), now)
    row.edited_at = now
    session.add(row)
    await session.flush()


async def unanswered_page(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[UnansweredQuestion], int]:
    """Unanswered questions, the most frequent (then the latest) first; and how many there are."""
    total = int((await session.exec(select(func.count()).select_from(UnansweredQuestion))).one())
    query = (
        select(UnansweredQuestion)
        .order_by(
            col(UnansweredQuestion.count).desc(),
            col(UnansweredQuestion.last_asked_at).desc(),
            col(UnansweredQuestion.id),
        )
        .offset(offset)
        .limit(limit)
    )
    return list((await session.exec(query)).all()), total


async def get_unanswered(session: AsyncSession, question_id: int) -> UnansweredQuestion | None:
    """An unanswered question by id."""
    return await session.get(UnansweredQuestion, question_id)


async def remove_unanswered(session: AsyncSession, question_id: int) -> None:
    """Drop a question from the list once it has an answer (or staff dismissed it)."""
    row = await session.get(UnansweredQuestion, question_id)
    if row is not None:
        await session.delete(row)
        await session.flush()
