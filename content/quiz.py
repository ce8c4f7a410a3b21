"""The policy quiz in `content/quiz.yaml`: questions with 2–4 choices, the right one, and a one-line
explanation taken from the FAQ entry the question cites.

Checked like the rest of the content: fields first (each question on its own), then references
(unique ids, a known topic, a published FAQ entry not waiting for review); errors name the file,
the question and the field. Which questions rounds draw follows the cited entry's dates: a question
is drawable on a day only while its FAQ entry is served that day (`drawable_on`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from content.loader import (
    CONTENT_DIR,
    REQUIRED_FAQ_LOCALES,
    ContentError,
    ContentInvalid,
    each_valid,
    listed,
    read_document,
)
from content.model import FALLBACK_LOCALE, FaqEntry, Topic

QUIZ_FILE = "quiz.yaml"
MAX_CHOICE = 60  # a choice is a button label
MAX_EXPLANATION = 300


@dataclass(frozen=True)
class QuizText:
    """One locale's wording of a question."""

    question: str
    choices: tuple[str, ...]
    explanation: str


@dataclass(frozen=True)
class QuizQuestion:
    """A question of the quiz; `answer` is the index of the right choice in every locale."""

    id: str
    topic: str
    faq_id: str
    answer: int
    texts: dict[str, QuizText]
    published: bool = True

    def text(self, locale: str) -> QuizText:
        """The wording in `locale`, else Vietnamese."""
        return self.texts.get(locale) or self.texts[FALLBACK_LOCALE]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)


class _Text(_Strict):
    question: str = Field(min_length=5, max_length=300)
    choices: list[str] = Field(min_length=2, max_length=4)
    explanation: str = Field(min_length=5, max_length=MAX_EXPLANATION)

    @field_validator("choices")
    @classmethod
    def _choices(cls, value: list[str]) -> list[str]:
        if any(not choice or len(choice) > MAX_CHOICE for choice in value):
            raise ValueError(f"each choice needs 1 to {MAX_CHOICE} characters")
        if len(set(value)) != len(value):
            raise ValueError("two choices are the same")
        return value


class _Question(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=100)
    topic: str
    faq_id: str
    answer: int = Field(ge=0)
    published: bool = True
    vi: _Text
    en: _Text

    @model_validator(mode="after")
    def _answer_in_range(self) -> _Question:
        counts = {len(self.vi.choices), len(self.en.choices)}
        if len(counts) > 1:
            raise ValueError("vi and en must have the same number of choices (the answer is one index for both)")
        if self.answer >= len(self.vi.choices):
            raise ValueError(
                f"answer {self.answer} is out of range: choices are counted from 0 to {len(self.vi.choices) - 1}"
            )
        return self


def load_quiz(
    root: Path = CONTENT_DIR, *, faqs: Iterable[FaqEntry], topics: Iterable[Topic]
) -> tuple[QuizQuestion, ...]:
    """Read and check `quiz.yaml` under `root` against the FAQ entries and topics; raise ContentInvalid."""
    return parse_quiz(read_document(root / QUIZ_FILE, QUIZ_FILE), faqs=faqs, topics=topics)


def parse_quiz(document: Any, *, faqs: Iterable[FaqEntry], topics: Iterable[Topic]) -> tuple[QuizQuestion, ...]:
    """The questions of a parsed quiz document, checked (raise ContentInvalid listing the errors)."""
    errors: list[ContentError] = []
    items = listed(document, "questions", QUIZ_FILE)
    rows = [row for _label, row in each_valid(items, _Question, QUIZ_FILE, errors, whole="answer")]
    if errors:
        raise ContentInvalid(errors)
    _check_references(rows, {entry.id: entry for entry in faqs}, {topic.id for topic in topics})
    return tuple(_question(row) for row in rows)


def _check_references(rows: list[_Question], faqs: dict[str, FaqEntry], topic_ids: set[str]) -> None:
    errors: list[ContentError] = []
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            errors.append(ContentError(QUIZ_FILE, row.id, "id", "used by another question"))
        seen.add(row.id)
        if row.topic not in topic_ids:
            errors.append(ContentError(QUIZ_FILE, row.id, "topic", f"unknown topic {row.topic!r} (see topics.yaml)"))
        entry = faqs.get(row.faq_id)
        if entry is None:
            errors.append(ContentError(QUIZ_FILE, row.id, "faq_id", f"unknown FAQ entry {row.faq_id!r}"))
        elif not entry.published:
            errors.append(ContentError(QUIZ_FILE, row.id, "faq_id", f"FAQ entry {row.faq_id!r} is not published"))
        elif entry.needs_review:
            errors.append(ContentError(QUIZ_FILE, row.id, "faq_id", f"FAQ entry {row.faq_id!r} is marked needs_review"))
    if errors:
        raise ContentInvalid(errors)


def _question(row: _Question) -> QuizQuestion:
    return QuizQuestion(
        id=row.id,
        topic=row.topic,
        faq_id=row.faq_id,
        answer=row.answer,
        published=row.published,
        texts={
            locale: QuizText(text.question, tuple(text.choices), text.explanation)
            for locale in REQUIRED_FAQ_LOCALES
            if (text := getattr(row, locale)) is not None
        },
    )


def drawable_on(questions: Iterable[QuizQuestion], faqs: Mapping[str, FaqEntry], day: date) -> list[QuizQuestion]:
    """The questions rounds draw from on `day`: published ones citing an FAQ entry citizens are given
    that day (`FaqEntry.is_served_on`), in order."""
    return [
        question
        for question in questions
        if question.published and (entry := faqs.get(question.faq_id)) is not None and entry.is_served_on(day)
    ]


def question_of(row_id: str, topic: str, faq_id: str, answer: int, texts: dict, published: bool = True) -> QuizQuestion:
    """A question as stored in the database (`texts` as `quiz_texts` wrote it)."""
    return QuizQuestion(
        id=row_id,
        topic=topic,
        faq_id=faq_id,
        answer=answer,
        published=published,
        texts={
            locale: QuizText(str(text["question"]), tuple(str(c) for c in text["choices"]), str(text["explanation"]))
            for locale, text in texts.items()
        },
    )


def quiz_texts(question: QuizQuestion) -> dict[str, dict]:
    """A question's texts as JSON for the database."""
    return {
        locale: {"question": text.question, "choices": list(text.choices), "explanation": text.explanation}
        for locale, text in question.texts.items()
    }
