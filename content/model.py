"""Content as typed objects: FAQ entries, topics, stories. Validated once when loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

FALLBACK_LOCALE = "vi"

_FAQ_PLAIN = ("valid_from", "valid_until", "replaced_by", "reviewed_on", "needs_review", "published", "image", "audio")
_STORY_PLAIN = ("commune", "image", "published", "illustrative", "consent")


def faq_fields(source: object) -> dict[str, Any]:
    """The fields of an FAQ entry that a content file, a FaqEntry and a database row hold alike (to
    pass on as keyword arguments)."""
    return {name: getattr(source, name) for name in _FAQ_PLAIN}


def story_fields(source: object) -> dict[str, Any]:
    """Likewise for a story (its tags and photos are tuples in a Story, lists in a row)."""
    return {name: getattr(source, name) for name in _STORY_PLAIN}


@dataclass(frozen=True)
class Source:
    """A legal or official document an answer rests on."""

    document: str
    date: date | None = None
    url: str | None = None

    def cite(self) -> str:
        """ "Nghị định 07/2021/NĐ-CP (27/01/2021)"."""
        return f"{self.document} ({self.date:%d/%m/%Y})" if self.date else self.document


@dataclass(frozen=True)
class FaqText:
    """One locale's wording of an FAQ entry."""

    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaqEntry:
    """A question with its sourced answer, valid between two dates."""

    id: str
    topic: str
    texts: dict[str, FaqText]
    sources: tuple[Source, ...]
    valid_from: date | None = None
    valid_until: date | None = None
    replaced_by: str | None = None
    reviewed_on: date | None = None
    needs_review: bool = False
    published: bool = True
    image: str | None = None
    audio: str | None = None

    def text(self, locale: str) -> FaqText:
        """The wording in `locale`, else Vietnamese."""
        return self.texts.get(locale) or self.texts[FALLBACK_LOCALE]

    def is_valid_on(self, day: date) -> bool:
        """Whether the entry is published and in force on `day`."""
        if not self.published:
            return False
        if self.valid_from and day < self.valid_from:
            return False
        return not (self.valid_until and day > self.valid_until)

    def is_served_on(self, day: date) -> bool:
        """Whether citizens are given the entry on `day`: published, in force, and not waiting for
        review (an entry marked `needs_review` stays editable in the dashboard but is never stated)."""
        return not self.needs_review and self.is_valid_on(day)

    def source_line(self, label: str) -> str:
        """ "Nguồn: A (dd/mm/yyyy); B (…)"."""
        return f"{label}: " + "; ".join(source.cite() for source in self.sources)


@dataclass(frozen=True)
class Topic:
    """A group of FAQ entries for menu browsing."""

    id: str
    titles: dict[str, str]

    def title(self, locale: str) -> str:
        """The title in `locale`, else Vietnamese."""
        return self.titles.get(locale) or self.titles[FALLBACK_LOCALE]


@dataclass(frozen=True)
class StoryText:
    """One locale's wording of a story."""

    title: str
    summary: str
    body: str
    lesson: str


@dataclass(frozen=True)
class Story:
    """A household's way out of poverty."""

    id: str
    texts: dict[str, StoryText]
    commune: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    published: bool = True
    illustrative: bool = False
    consent: str | None = None  # a real story's "consented on DATE by …" line, as citizens read it
    photos: tuple[str, ...] = ()  # a real story's published photos, paths under DATA_DIR

    def text(self, locale: str) -> StoryText:
        """The wording in `locale`, else Vietnamese."""
        return self.texts.get(locale) or self.texts[FALLBACK_LOCALE]

    def consent_given(self) -> tuple[date, str] | None:
        """A real story's consent as (day, who gave it), stored as "YYYY-MM-DD|who"; None for others."""
        day, _, who = (self.consent or "").partition("|")
        try:
            return date.fromisoformat(day), who
        except ValueError:
            return None


@dataclass(frozen=True)
class ContentBundle:
    """All content, as loaded from files or from the database."""

    topics: tuple[Topic, ...] = ()
    faqs: tuple[FaqEntry, ...] = ()
    stories: tuple[Story, ...] = ()
    faq_by_id: dict[str, FaqEntry] = field(init=False, repr=False, compare=False)
    replaced: dict[str, FaqEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "faq_by_id", {entry.id: entry for entry in self.faqs})
        # the entry each one replaces (for a merge of several, the one that ends last)
        replaced = sorted((e for e in self.faqs if e.replaced_by), key=lambda e: e.valid_until or date.min)
        object.__setattr__(self, "replaced", {e.replaced_by: e for e in replaced if e.replaced_by})
