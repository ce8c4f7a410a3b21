"""The household self-check ("Nhà tôi có thuộc diện hộ nghèo không?"): the poverty standards it
compares with, the indicator questions, and what an income and a count of deficits mean.

`content/selfcheck.yaml` holds the data (lines with their decrees, questions with `needs_review`);
this module reads and checks it and decides, with no I/O once loaded. Only the commune's review
decides a household's status: every result here is an estimate that says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from content.loader import CONTENT_DIR, ContentError, ContentInvalid, field_errors
from content.model import FALLBACK_LOCALE, Source

SELFCHECK_FILE = "selfcheck.yaml"
REVIEW_SEASON = ((9, 1), (12, 14))  # the annual review, 1/9–14/12 (Quyết định 24/2021/QĐ-TTg)
REVIEW_SOURCE = Source("Quyết định 24/2021/QĐ-TTg", date(2021, 7, 16))


class Zone(StrEnum):
    """Where the household lives: a xã is rural (nông thôn), a phường urban (thành thị)."""

    rural = "rural"
    urban = "urban"


class Outcome(StrEnum):
    """What a self-check found, as counted in the statistics."""

    poor = "poor"  # under the line, lacking at least the rule's number of indicators
    near_poor = "near_poor"  # under the line, lacking fewer
    under_line = "under_line"  # under the line; indicators not asked (under review)
    average = "average"  # above the line, within the average-living band
    above = "above"  # above the line (and the band, where there is one)


@dataclass(frozen=True)
class Standard:
    """A poverty standard: its decree, the days it applies, its lines and bands (đồng a person a month)."""

    id: str
    source: Source
    valid_from: date
    valid_until: date | None
    rural: int
    urban: int
    average_rural: int | None = None
    average_urban: int | None = None
    poor_if_deficits_at_least: int = 3
    extended_by: str | None = None

    def applies_on(self, day: date) -> bool:
        """Whether this standard is in force on `day`."""
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def line(self, zone: Zone) -> int:
        """The income line for the zone."""
        return self.rural if zone is Zone.rural else self.urban

    def average_band(self, zone: Zone) -> int | None:
        """The upper bound of the average-living band, when the source gives one."""
        return self.average_rural if zone is Zone.rural else self.average_urban

    def cite(self) -> str:
        """ "Nghị định 07/2021/NĐ-CP (27/01/2021)", with the decree that extended it."""
        return f"{self.source.cite()}; {self.extended_by}" if self.extended_by else self.source.cite()


@dataclass(frozen=True)
class QuestionText:
    """One locale's wording: the indicator's name and the yes/no question."""

    indicator: str
    question: str


@dataclass(frozen=True)
class Question:
    """A yes/no question on one indicator; `deficit_if` is the answer that means a deficit."""

    id: str
    texts: dict[str, QuestionText]
    deficit_if: bool
    sources: tuple[Source, ...]
    faq_id: str = ""
    valid_from: date | None = None
    valid_until: date | None = None
    needs_review: bool = True
    note: str = ""

    def text(self, locale: str) -> QuestionText:
        """The wording in `locale`, else Vietnamese."""
        return self.texts.get(locale) or self.texts[FALLBACK_LOCALE]

    def asked_on(self, day: date) -> bool:
        """Whether citizens are asked this question on `day`: confirmed by staff and in force."""
        if self.needs_review or (self.valid_from and day < self.valid_from):
            return False
        return not (self.valid_until and day > self.valid_until)


@dataclass(frozen=True)
class SelfCheck:
    """The standards and questions of `content/selfcheck.yaml`."""

    standards: tuple[Standard, ...]
    questions: tuple[Question, ...]

    def standards_on(self, day: date) -> list[Standard]:
        """The standard in force on `day`, and in December also the one starting on 1 January."""
        current = [standard for standard in self.standards if standard.applies_on(day)]
        if day.month == 12:
            new_year = date(day.year + 1, 1, 1)
            current += [
                standard for standard in self.standards if standard.valid_from == new_year and standard not in current
            ]
        return current

    def summary_on(self, day: date) -> str:
        """One line for `content check --on DAY`: the lines in force (and coming, in December) and
        how many indicator questions the file lets the bot ask that day."""
        standards = self.standards_on(day)
        lines = (
            "; ".join(
                f"{'from ' + standard.valid_from.isoformat() + ' ' if not standard.applies_on(day) else ''}"
                f"{standard.source.document} (rural {standard.rural}, urban {standard.urban})"
                for standard in standards
            )
            or "NO STANDARD IN FORCE"
        )
        asked = sum(question.asked_on(day) for question in self.questions)
        waiting = sum(question.needs_review for question in self.questions)
        return (
            f"self-check: {lines}; {asked} of {len(self.questions)} indicator questions asked "
            f"({waiting} wait for review in {SELFCHECK_FILE}; staff confirm them in the dashboard)"
        )


@dataclass(frozen=True)
class Verdict:
    """What an income means under one standard (`deficits` None: indicators not asked)."""

    standard: Standard
    zone: Zone
    income: Fraction
    outcome: Outcome
    deficits: tuple[str, ...] | None = None

    @property
    def line(self) -> int:
        """The income line compared with."""
        return self.standard.line(self.zone)

    @property
    def under_line(self) -> bool:
        """Whether the income is at or below the line."""
        return self.outcome in (Outcome.poor, Outcome.near_poor, Outcome.under_line)


def assess(standard: Standard, zone: Zone, income: Fraction, deficits: tuple[str, ...] | None = None) -> Verdict:
    """Compare an income per person per month with a standard; with the indicators lacking (None:
    not asked), a household at or below the line is poor from the rule's count up, else near-poor."""
    if income <= standard.line(zone):
        if deficits is None:
            outcome = Outcome.under_line
        else:
            outcome = Outcome.poor if len(deficits) >= standard.poor_if_deficits_at_least else Outcome.near_poor
        return Verdict(standard, zone, income, outcome, deficits)
    band = standard.average_band(zone)
    outcome = Outcome.average if band is not None and income <= band else Outcome.above
    return Verdict(standard, zone, income, outcome)


def in_review_season(day: date) -> bool:
    """Whether `day` falls in the annual review (1/9–14/12)."""
    (start_month, start_day), (end_month, end_day) = REVIEW_SEASON
    return (start_month, start_day) <= (day.month, day.day) <= (end_month, end_day)


def zone_of(kind: str) -> Zone | None:
    """The zone of an area kind as in the area data ("xã" rural, "phường" urban)."""
    return {"xã": Zone.rural, "xa": Zone.rural, "phường": Zone.urban, "phuong": Zone.urban}.get(kind.strip().lower())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Standard(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    document: str = Field(min_length=5)
    date: dt.date
    extended_by: str | None = None
    valid_from: dt.date
    valid_until: dt.date | None = None
    rural: int = Field(gt=0)
    urban: int = Field(gt=0)
    average_rural: int | None = Field(default=None, gt=0)
    average_urban: int | None = Field(default=None, gt=0)
    poor_if_deficits_at_least: int = Field(default=3, ge=1, le=12)


class _Source(_Strict):
    document: str = Field(min_length=3)
    date: dt.date | None = None
    url: str | None = None


class _Text(_Strict):
    indicator: str = Field(min_length=3, max_length=100)
    question: str = Field(min_length=10, max_length=300)


class _Question(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)
    faq_id: str = ""
    deficit_if: Literal["yes", "no"]
    valid_from: date | None = None
    valid_until: date | None = None
    sources: list[_Source] = Field(min_length=1)
    needs_review: bool = True
    note: str = Field(default="", max_length=500)
    vi: _Text
    en: _Text


class _File(_Strict):
    standards: list[_Standard] = Field(min_length=1)
    questions: list[_Question] = Field(min_length=1, max_length=12)


def question_from(data: dict) -> Question:
    """A question from its stored form (a dict as in the file); raises ValidationError."""
    return _question(_Question.model_validate(data))


def question_data(question: Question) -> dict:
    """A question as the file writes it (what the database keeps)."""
    return {
        "id": question.id,
        "faq_id": question.faq_id,
        "deficit_if": "yes" if question.deficit_if else "no",
        "valid_from": question.valid_from.isoformat() if question.valid_from else None,
        "valid_until": question.valid_until.isoformat() if question.valid_until else None,
        "sources": [
            {"document": s.document, "date": s.date.isoformat() if s.date else None, "url": s.url}
            for s in question.sources
        ],
        "needs_review": question.needs_review,
        "note": question.note,
        **{locale: {"indicator": text.indicator, "question": text.question} for locale, text in question.texts.items()},
    }


def _question(row: _Question) -> Question:
    return Question(
        id=row.id,
        faq_id=row.faq_id,
        deficit_if=row.deficit_if == "yes",
        texts={
            "vi": QuestionText(row.vi.indicator, row.vi.question),
            "en": QuestionText(row.en.indicator, row.en.question),
        },
        sources=tuple(Source(s.document, s.date, s.url) for s in row.sources),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        needs_review=row.needs_review,
        note=row.note,
    )


def load_selfcheck(root: Path = CONTENT_DIR) -> SelfCheck:
    """Read and check `selfcheck.yaml`; raise ContentInvalid naming every error."""
    path = root / SELFCHECK_FILE
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _File.model_validate(document)
    except FileNotFoundError:
        raise ContentInvalid([ContentError(SELFCHECK_FILE, "", "", "file is missing")]) from None
    except yaml.YAMLError as exc:
        raise ContentInvalid(
            [ContentError(SELFCHECK_FILE, "", "", f"not valid YAML: {exc}".replace("\n", " "))]
        ) from None
    except ValidationError as exc:
        raise ContentInvalid(field_errors(SELFCHECK_FILE, "", exc)) from None
    ids = [question.id for question in parsed.questions]
    if len(set(ids)) != len(ids):
        raise ContentInvalid([ContentError(SELFCHECK_FILE, "", "questions", "two questions have the same id")])
    standards = tuple(
        Standard(
            id=row.id,
            source=Source(row.document, row.date),
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            rural=row.rural,
            urban=row.urban,
            average_rural=row.average_rural,
            average_urban=row.average_urban,
            poor_if_deficits_at_least=row.poor_if_deficits_at_least,
            extended_by=row.extended_by,
        )
        for row in parsed.standards
    )
    return SelfCheck(standards, tuple(_question(row) for row in parsed.questions))
