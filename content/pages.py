"""Dated paragraphs of the public pages' own text (`content/pages.yaml`).

Like FAQ answers, what the home page says about the programme and the poverty standard is
sourced and dated: each paragraph is shown between its `valid_from` and `valid_until`, so the page
changes by itself on the day a rule changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from content.loader import CONTENT_DIR, ContentError, ContentInvalid, each_valid, listed
from content.model import FALLBACK_LOCALE, Source

PAGES_FILE = "pages.yaml"


@dataclass(frozen=True)
class PageText:
    """One paragraph of a public page, with its sources and the days it is true on."""

    id: str
    section: str
    texts: dict[str, str]
    sources: tuple[Source, ...]
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    def text(self, locale: str) -> str:
        """The paragraph in `locale`, else Vietnamese."""
        return self.texts.get(locale) or self.texts[FALLBACK_LOCALE]

    def is_valid_on(self, day: dt.date) -> bool:
        """Whether the paragraph is true on `day`."""
        return not ((self.valid_from and day < self.valid_from) or (self.valid_until and day > self.valid_until))


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    document: str = Field(min_length=3)
    date: dt.date | None = None


class _Paragraph(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    section: str = Field(min_length=2)
    sources: list[_Source] = Field(min_length=1)
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    vi: str = Field(min_length=10, max_length=900)
    en: str = Field(min_length=10, max_length=900)


def load_pages(root: Path = CONTENT_DIR) -> tuple[PageText, ...]:
    """Read and validate `pages.yaml`; raise ContentInvalid listing every error."""
    path = root / PAGES_FILE
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentInvalid([ContentError(PAGES_FILE, "", "", f"cannot be read: {exc}".replace("\n", " "))]) from exc
    items = listed(document, "paragraphs", PAGES_FILE)
    errors: list[ContentError] = []
    pages: list[PageText] = []
    for _label, row in each_valid(items, _Paragraph, PAGES_FILE, errors):
        if row.valid_from and row.valid_until and row.valid_from > row.valid_until:
            errors.append(ContentError(PAGES_FILE, row.id, "valid_until", "is before valid_from"))
        if any(page.id == row.id for page in pages):
            errors.append(ContentError(PAGES_FILE, row.id, "id", "used by another paragraph"))
        pages.append(
            PageText(
                id=row.id,
                section=row.section,
                texts={"vi": row.vi, "en": row.en},
                sources=tuple(Source(source.document, source.date) for source in row.sources),
                valid_from=row.valid_from,
                valid_until=row.valid_until,
            )
        )
    if errors:
        raise ContentInvalid(errors)
    return tuple(pages)


def on_day(pages: tuple[PageText, ...], section: str, day: dt.date) -> list[PageText]:
    """The paragraphs of `section` that are true on `day`, in file order."""
    return [page for page in pages if page.section == section and page.is_valid_on(day)]
