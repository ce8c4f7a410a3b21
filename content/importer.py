"""Moving content between the files in `content/`, the typed model and the database.

Import is idempotent: re-importing updates rows by id and never duplicates them. FAQ entries,
stories and quiz questions saved in the dashboard (`edited_at` set) are left as staff left them,
unless the import is told to overwrite them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.areas import AreaRecord, area_fields, as_records, read_area_records
from content.campaigns import CAMPAIGNS_FILE, Campaign, load_campaigns, parse_campaigns
from content.loader import (
    ContentInvalid,
    _check_references,
    _Faq,
    _faq,
    _Story,
    _story,
    field_errors,
    load_content,
)
from content.model import ContentBundle, FaqEntry, FaqText, Source, Story, StoryText, Topic, faq_fields, story_fields
from content.quiz import QuizQuestion, load_quiz, quiz_texts
from content.selfcheck import SelfCheck, load_selfcheck, question_data
from storage import content as content_repo
from storage import quiz as quiz_repo
from storage import repo
from storage import selfcheck as selfcheck_repo
from storage.models import Area, CampaignRow, FaqRow, QuizQuestionRow, SelfCheckQuestionRow, StoryRow, TopicRow

log = logging.getLogger(__name__)

Editable = FaqRow | StoryRow | QuizQuestionRow
KINDS = {
    "faqs": ("FAQ entry", "FAQ entries"),
    "stories": ("story", "stories"),
    "quiz questions": ("quiz question", "quiz questions"),
    "self-check questions": ("self-check question", "self-check questions"),
}


@dataclass(frozen=True)
class Imported:
    """What an import wrote, how many of each kind, and what it kept: by kind, the ids of the files'
    entries it left as staff edited them in the dashboard."""

    counts: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)

    def __or__(self, other: Imported) -> Imported:
        """Both imports' counts and kept ids (`other`'s win for a kind in both)."""
        return Imported({**self.counts, **other.counts}, {**self.kept, **other.kept})

    def kept_lines(self) -> list[str]:
        """One line per kind with kept entries, for the operator."""
        lines = []
        for kind, ids in self.kept.items():
            if ids:
                one, many = KINDS[kind]
                lines.append(
                    f"kept {len(ids)} {one if len(ids) == 1 else many} edited in the dashboard: {', '.join(ids)} "
                    "(content import --overwrite replaces them with the files)"
                )
        return lines


def area_rows(records: list[AreaRecord]) -> list[Area]:
    """Area table rows for the records."""
    return [Area(**area_fields(record)) for record in records]


async def import_areas(session: AsyncSession, records: list[AreaRecord] | None = None) -> int:
    """Write the administrative areas; return how many. The caller commits."""
    return await repo.upsert_areas(session, area_rows(records or read_area_records()))


async def import_content(
    session: AsyncSession, bundle: ContentBundle, *, now: datetime, overwrite: bool = False
) -> Imported:
    """Write topics, FAQ entries and stories, except entries and stories edited in the dashboard
    unless `overwrite`. The caller commits."""
    for position, topic in enumerate(bundle.topics):
        await content_repo.upsert(session, TopicRow(id=topic.id, titles=dict(topic.titles), position=position), "id")
    faqs = await _write(
        session, [faq_row(entry, position, now) for position, entry in enumerate(bundle.faqs)], overwrite
    )
    stories = await _write(
        session, [story_row(item, position, now) for position, item in enumerate(bundle.stories)], overwrite
    )
    await session.flush()
    return Imported(
        {
            "topics": len(bundle.topics),
            "faqs": len(bundle.faqs) - len(faqs),
            "stories": len(bundle.stories) - len(stories),
        },
        {"faqs": faqs, "stories": stories},
    )


async def _write(session: AsyncSession, rows: Sequence[Editable], overwrite: bool) -> list[str]:
    """Write the rows by id, clearing `edited_at`, but not over rows edited in the dashboard unless
    `overwrite`; return the ids of those kept."""
    if not rows:
        return []
    table = type(rows[0])
    edited = (
        set()
        if overwrite
        else set((await session.exec(select(table.id).where(col(table.edited_at).is_not(None)))).all())
    )
    kept = []
    for row in rows:
        if row.id in edited:
            kept.append(row.id)
        else:
            await content_repo.upsert(session, row, "id")
    return kept


async def load_bundle(session: AsyncSession) -> ContentBundle:
    """The content as stored in the database."""
    topics = await content_repo.list_topics(session)
    faqs = await content_repo.list_faqs(session)
    stories = await content_repo.list_stories(session)
    return ContentBundle(
        topics=tuple(Topic(row.id, dict(row.titles)) for row in topics),
        faqs=tuple(faq_entry(row) for row in faqs),
        stories=tuple(story(row) for row in stories),
    )


def faq_row(entry: FaqEntry, position: int, now: datetime) -> FaqRow:
    """The database row of an entry."""
    return FaqRow(
        id=entry.id,
        topic=entry.topic,
        texts={locale: asdict(text) for locale, text in entry.texts.items()},
        sources=[
            {"document": s.document, "date": s.date.isoformat() if s.date else None, "url": s.url}
            for s in entry.sources
        ],
        position=position,
        updated_at=now,
        **faq_fields(entry),
    )


def faq_entry(row: FaqRow) -> FaqEntry:
    """The entry a database row holds."""
    return FaqEntry(
        id=row.id,
        topic=row.topic,
        texts={
            locale: FaqText(t["question"], t["answer"], tuple(t.get("alternatives", ())), tuple(t.get("keywords", ())))
            for locale, t in row.texts.items()
        },
        sources=tuple(
            Source(s["document"], date.fromisoformat(s["date"]) if s.get("date") else None, s.get("url"))
            for s in row.sources
        ),
        **faq_fields(row),
    )


def story_row(item: Story, position: int, now: datetime) -> StoryRow:
    """The database row of a story."""
    return StoryRow(
        id=item.id,
        texts={locale: asdict(text) for locale, text in item.texts.items()},
        tags=list(item.tags),
        photos=list(item.photos) or None,
        position=position,
        updated_at=now,
        **story_fields(item),
    )


EDITOR = "dashboard"


def validate_faq(item: dict[str, Any], topic: str, bundle: ContentBundle, *, new: bool) -> FaqEntry:
    """One FAQ entry from an editor, in the shape of a YAML entry (id, vi, en, sources, dates, …),
    checked with the loader's rules against the rest of `bundle` (an edit replaces the entry with
    the same id; a new entry must not reuse one). Raise ContentInvalid naming the fields."""
    entry_id = str(item.get("id", ""))
    try:
        entry = _faq(_Faq.model_validate(item), topic)
    except ValidationError as exc:
        raise ContentInvalid(field_errors(EDITOR, entry_id, exc)) from None
    others = [other for other in bundle.faqs if new or other.id != entry.id]
    _errors_of(entry.id, lambda: _check_references(Path(EDITOR), list(bundle.topics), [*others, entry], [], None))
    return entry


def validate_story(item: dict[str, Any], bundle: ContentBundle, area_codes: Iterable[str], *, new: bool) -> Story:
    """One story from an editor, in the shape of a YAML story, checked as `validate_faq` checks an entry."""
    story_id = str(item.get("id", ""))
    try:
        parsed = _story(_Story.model_validate(item))
    except ValidationError as exc:
        raise ContentInvalid(field_errors(EDITOR, story_id, exc)) from None
    others = [other for other in bundle.stories if new or other.id != parsed.id]
    _errors_of(parsed.id, lambda: _check_references(Path(EDITOR), [], [], [*others, parsed], set(area_codes)))
    return parsed


def _errors_of(item_id: str, check: Callable[[], None]) -> None:
    """Run a whole-content check, keeping only the errors about this item (others were there before)."""
    try:
        check()
    except ContentInvalid as exc:
        mine = [error for error in exc.errors if error.entry == item_id]
        if mine:
            raise ContentInvalid(mine) from None


def story(row: StoryRow) -> Story:
    """The story a database row holds."""
    return Story(
        id=row.id,
        texts={locale: StoryText(**text) for locale, text in row.texts.items()},
        tags=tuple(row.tags),
        photos=tuple(row.photos or ()),
        **story_fields(row),
    )


async def import_all(session: AsyncSession, *, now: datetime, overwrite: bool = False) -> Imported:
    """Validate the content files and write areas, topics, FAQ, stories, campaigns and the quiz
    (raises ContentInvalid); FAQ entries, stories and questions edited in the dashboard are kept
    unless `overwrite`."""
    records = read_area_records()
    codes = [record.code for record in records]
    bundle = load_content(area_codes=codes)
    campaigns = load_campaigns(area_codes=codes)
    imported = Imported({"areas": await import_areas(session, records)})
    imported |= await import_content(session, bundle, now=now, overwrite=overwrite)
    document = yaml.safe_load(CAMPAIGNS_FILE.read_text(encoding="utf-8"))
    for position, item in enumerate(document["campaigns"]):
        await content_repo.upsert(
            session, CampaignRow(id=item["id"], data=item, position=position, updated_at=now), "id"
        )
    imported |= Imported({"campaigns": len(campaigns)})
    imported |= await import_quiz(
        session, load_quiz(faqs=bundle.faqs, topics=bundle.topics), now=now, overwrite=overwrite
    )
    return imported | await import_selfcheck(session, load_selfcheck(), now=now, overwrite=overwrite)


async def import_selfcheck(
    session: AsyncSession, selfcheck: SelfCheck, *, now: datetime, overwrite: bool = False
) -> Imported:
    """Write the self-check's indicator questions by id, except those confirmed or edited in the
    dashboard unless `overwrite`. The caller commits."""
    rows = [
        SelfCheckQuestionRow(id=question.id, data=question_data(question), position=position, updated_at=now)
        for position, question in enumerate(selfcheck.questions)
    ]
    kept = await selfcheck_repo.write_questions(session, rows, overwrite=overwrite)
    return Imported({"self-check questions": len(rows) - len(kept)}, {"self-check questions": kept})


async def import_quiz(
    session: AsyncSession, questions: tuple[QuizQuestion, ...], *, now: datetime, overwrite: bool = False
) -> Imported:
    """Write the quiz questions by id and unpublish the others, except questions edited in the
    dashboard unless `overwrite`. The caller commits."""
    rows = [
        QuizQuestionRow(
            id=question.id,
            texts=quiz_texts(question),
            answer=question.answer,
            faq_id=question.faq_id,
            topic=question.topic,
            published=question.published,
            position=position,
            updated_at=now,
        )
        for position, question in enumerate(questions)
    ]
    kept = await _write(session, rows, overwrite)
    await session.flush()
    await quiz_repo.unpublish_missing(session, [question.id for question in questions], edited_too=overwrite)
    return Imported({"quiz questions": len(questions) - len(kept)}, {"quiz questions": kept})


async def stored_campaigns(session: AsyncSession, area_codes: list[str]) -> tuple[Campaign, ...]:
    """The active campaigns in the database, validated as the file is."""
    rows = (
        await session.exec(
            select(CampaignRow).where(col(CampaignRow.active) == true()).order_by(col(CampaignRow.position))
        )
    ).all()
    return parse_campaigns({"campaigns": [dict(row.data) for row in rows]}, "database: campaign", area_codes=area_codes)


async def load_or_import(session: AsyncSession, *, now: datetime) -> tuple[list[AreaRecord], ContentBundle]:
    """Areas and content from the database, importing the shipped files first into an empty one."""
    areas = as_records(await repo.list_areas(session))
    bundle = await load_bundle(session)
    if not areas or not bundle.faqs:
        log.warning("the database holds no content yet: importing content/ now")
        imported = await import_all(session, now=now)
        await session.commit()
        for line in imported.kept_lines():
            log.info("%s", line)
        areas = as_records(await repo.list_areas(session))
        bundle = await load_bundle(session)
    return areas, bundle


async def import_database(database_url: str, *, now: datetime, overwrite: bool = False) -> Imported:
    """Open the database at `database_url`, import all content and commit (CLI, tests, benches)."""
    from storage.db import create_engine, session_factory

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            imported = await import_all(session, now=now, overwrite=overwrite)
            await session.commit()
    finally:
        await engine.dispose()
    return imported
