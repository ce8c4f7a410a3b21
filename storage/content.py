"""Repository functions for content (topics, FAQ, stories) and FAQ statistics. Never commit."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Literal, TypeVar

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import run, table_of
from storage.models import FaqRow, FaqUsageRow, StoryRow, TopicRow, UnansweredQuestion

FaqCounter = Literal["shown", "helpful", "unhelpful"]

Row = TypeVar("Row", bound=SQLModel)


async def upsert(session: AsyncSession, row: Row, key: str) -> Row:
    """Insert `row`, or copy its fields onto the stored row with the same `key` value."""
    stored = await session.get(type(row), getattr(row, key))
    if stored is None:
        session.add(row)
        return row
    stored.sqlmodel_update(row.model_dump(exclude={key}))
    return stored


async def list_topics(session: AsyncSession) -> list[TopicRow]:
    """Topics in menu order."""
    return list((await session.exec(select(TopicRow).order_by(col(TopicRow.position), col(TopicRow.id)))).all())


async def list_faqs(session: AsyncSession) -> list[FaqRow]:
    """All FAQ entries, published or not, in file order."""
    return list((await session.exec(select(FaqRow).order_by(col(FaqRow.position), col(FaqRow.id)))).all())


async def list_stories(session: AsyncSession) -> list[StoryRow]:
    """All stories in order."""
    return list((await session.exec(select(StoryRow).order_by(col(StoryRow.position), col(StoryRow.id)))).all())


async def count_faq(
    session: AsyncSession, faq_id: str, field: FaqCounter, *, now: datetime, area_code: str | None
) -> None:
    """Add one to a counter (`shown`, `helpful`, `unhelpful`) of an entry, in the hour and commune it
    happened in (an entry's totals are the sums over its rows)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    await _bump(session, FaqUsageRow, field, hour=hour, area_code=area_code or "", faq_id=faq_id)


async def _bump(session: AsyncSession, model: type[SQLModel], field: FaqCounter, **key: object) -> None:
    """Add one to `field` of the row with this primary key, creating it at zero first. One statement,
    so two processes counting the same row never collide on the key."""
    dialect = "postgresql" if session.bind is not None and session.bind.dialect.name == "postgresql" else "sqlite"
    await run(session, _bump_statement(dialect, model, field, tuple(key)), params=key)


@lru_cache(maxsize=64)
def _bump_statement(dialect: str, model: type[SQLModel], field: FaqCounter, key: tuple[str, ...]) -> Executable:
    """The upsert of `_bump`, built once per dialect, table, counter and key (building it costs more
    than running it); the key's values are bound at execution."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = table_of(model)
    counters = {"shown": 0, "helpful": 0, "unhelpful": 0, field: 1}
    return (
        insert(table)
        .values(**{name: bindparam(name) for name in key}, **counters)
        .on_conflict_do_update(index_elements=list(key), set_={field: table.c[field] + 1})
    )


async def record_unanswered(
    session: AsyncSession, key: str, text: str, locale: str, *, now: datetime
) -> UnansweredQuestion:
    """Count an unanswered question under its normalised key (the latest wording is kept)."""
    key = key[:500]
    row = (await session.exec(select(UnansweredQuestion).where(UnansweredQuestion.key == key))).first()
    if row is None:
        row = UnansweredQuestion(key=key, text=text[:1000], locale=locale, first_asked_at=now, last_asked_at=now)
        session.add(row)
        await session.flush()
        return row
    row.count += 1
    row.text = text[:1000]
    row.last_asked_at = now
    return row


async def mark_forwarded(session: AsyncSession, question_id: int) -> UnansweredQuestion | None:
    """Count that a citizen asked to send this question to staff."""
    row = await session.get(UnansweredQuestion, question_id)
    if row is not None:
        row.forwarded += 1
    return row
