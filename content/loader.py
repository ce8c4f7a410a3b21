"""Loading and validating the content files in `content/` (FAQ, topics, stories).

Errors name the file, the entry and the field. Checking runs in classes — YAML syntax, then each
entry's fields, then references between entries — and stops after the first class that has
errors, reporting all errors of that class.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from content.model import ContentBundle, FaqEntry, FaqText, Source, Story, StoryText, Topic, faq_fields

CONTENT_DIR = Path(__file__).parent
MAX_ANSWER = 700
MAX_STORY = 1200
SOURCE_LABELS = {"vi": "Nguồn", "en": "Source"}
REQUIRED_FAQ_LOCALES = ("vi", "en")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOPIC_ID = re.compile(r"^[a-z0-9_]+$")
_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True)
class ContentError:
    """One problem in a content file."""

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        where = " / ".join(part for part in (self.entry, self.field) if part)
        return f"{self.file}: {where}: {self.message}" if where else f"{self.file}: {self.message}"


class ContentInvalid(Exception):
    """The content has errors; `errors` lists all of them (of the first class found)."""

    def __init__(self, errors: list[ContentError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


def read_document(path: Path, name: str) -> Any:
    """The YAML document in `path`; raise ContentInvalid (naming the file `name`) when it is missing or not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentInvalid([ContentError(name, "", "", "file is missing")]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContentInvalid([ContentError(name, "", "", f"not valid YAML: {exc}".replace("\n", " "))]) from None


def listed(document: Any, key: str, name: str) -> list[Any]:
    """The list under `key` of a document; raise ContentInvalid when there is none."""
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ContentInvalid([ContentError(name, "", key, "missing: expected a list")])
    return items


def field_errors(name: str, label: str, exc: ValidationError, whole: str = "") -> list[ContentError]:
    """One error per field a validation refused (`whole` names the field of errors about the whole item)."""
    return [
        ContentError(name, label, ".".join(str(part) for part in error["loc"]) or whole, error["msg"])
        for error in exc.errors()
    ]


def each_valid(
    items: list[Any], schema: type[_Model], name: str, errors: list[ContentError], whole: str = ""
) -> Iterator[tuple[str, _Model]]:
    """Each item that `schema` accepts, with its label (its id, else its position: "#3"); the errors of
    the others go to `errors`."""
    for index, item in enumerate(items):
        label = str(item.get("id", f"#{index + 1}")) if isinstance(item, dict) else f"#{index + 1}"
        try:
            row = schema.model_validate(item)
        except ValidationError as exc:
            errors.extend(field_errors(name, label, exc, whole))
            continue
        yield label, row


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)


class _Text(_Strict):
    question: str = Field(min_length=3, max_length=300)
    answer: str = Field(min_length=10)
    alternatives: list[str] = []
    keywords: list[str] = []


class _Source(_Strict):
    document: str = Field(min_length=3)
    date: dt.date | None = None
    url: str | None = None


class _Faq(_Strict):
    id: str
    sources: list[_Source] = Field(min_length=1)
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    replaced_by: str | None = None
    reviewed_on: dt.date | None = None
    needs_review: bool = False
    published: bool = True
    image: str | None = None
    audio: str | None = None
    vi: _Text
    en: _Text

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be lower-case kebab-case, e.g. poverty-line-2027")
        return value


class _TopicRow(_Strict):
    id: str
    vi: str = Field(min_length=2)
    en: str = Field(min_length=2)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _TOPIC_ID.match(value):
            raise ValueError("must be snake_case")
        return value


class _StoryText(_Strict):
    title: str = Field(min_length=3, max_length=120)
    summary: str = Field(min_length=10, max_length=300)
    body: str = Field(min_length=50, max_length=MAX_STORY)
    lesson: str = Field(min_length=5, max_length=200)


class _Story(_Strict):
    id: str
    published: bool = True
    illustrative: bool = False
    commune: str | None = None
    tags: list[str] = []
    image: str | None = None
    vi: _StoryText
    en: _StoryText | None = None


def rendered_answer(entry: FaqEntry, locale: str) -> str:
    """The answer exactly as a citizen sees it: the text, then its sources."""
    return f"{entry.text(locale).answer}\n\n{entry.source_line(SOURCE_LABELS.get(locale, 'Nguồn'))}"


def load_content(root: Path = CONTENT_DIR, *, area_codes: Iterable[str] | None = None) -> ContentBundle:
    """Read and validate every content file under `root`; raise ContentInvalid listing the errors."""
    documents = _read_yaml(root)
    topics, faqs, stories = _parse(root, documents)
    _check_references(root, topics, faqs, stories, set(area_codes) if area_codes is not None else None)
    if (root / "quiz.yaml").exists():  # the quiz cites FAQ entries, so it is checked against them
        from content.quiz import load_quiz

        load_quiz(root, faqs=faqs, topics=topics)
    return ContentBundle(topics=tuple(topics), faqs=tuple(faqs), stories=tuple(stories))


def _files(root: Path) -> list[Path]:
    return [root / "topics.yaml", *sorted((root / "faq").glob("*.yaml")), root / "stories.yaml"]


def _read_yaml(root: Path) -> dict[Path, Any]:
    documents: dict[Path, Any] = {}
    errors: list[ContentError] = []
    for path in _files(root):
        try:
            documents[path] = read_document(path, _name(root, path))
        except ContentInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise ContentInvalid(errors)
    return documents


def _parse(root: Path, documents: dict[Path, Any]) -> tuple[list[Topic], list[FaqEntry], list[Story]]:
    errors: list[ContentError] = []
    topics = [
        Topic(row.id, {"vi": row.vi, "en": row.en})
        for row in _rows(root, root / "topics.yaml", documents, "topics", _TopicRow, errors)
    ]
    faqs: list[FaqEntry] = []
    for path in sorted((root / "faq").glob("*.yaml")):
        document = documents.get(path)
        topic = document.get("topic") if isinstance(document, dict) else None
        if not isinstance(topic, str):
            errors.append(ContentError(_name(root, path), "", "topic", "missing: name the topic id of this file"))
        for row in _rows(root, path, documents, "entries", _Faq, errors):
            faqs.append(_faq(row, str(topic)))
    stories = [_story(row) for row in _rows(root, root / "stories.yaml", documents, "stories", _Story, errors)]
    if errors:
        raise ContentInvalid(errors)
    return topics, faqs, stories


def _rows(
    root: Path, path: Path, documents: dict[Path, Any], key: str, schema: type[BaseModel], errors: list[ContentError]
) -> list[Any]:
    """Validate each item of the list under `key`, collecting errors per item."""
    name = _name(root, path)
    document = documents.get(path)
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list):
        errors.append(ContentError(name, "", key, "missing: expected a list"))
        return []
    return [row for _label, row in each_valid(items, schema, name, errors)]


def _faq(row: _Faq, topic: str) -> FaqEntry:
    return FaqEntry(
        id=row.id,
        topic=topic,
        texts={locale: _text(getattr(row, locale)) for locale in REQUIRED_FAQ_LOCALES},
        sources=tuple(Source(s.document, s.date, s.url) for s in row.sources),
        **faq_fields(row),
    )


def _text(text: _Text) -> FaqText:
    return FaqText(text.question, text.answer, tuple(text.alternatives), tuple(text.keywords))


def _story(row: _Story) -> Story:
    texts = {"vi": _story_text(row.vi)}
    if row.en is not None:
        texts["en"] = _story_text(row.en)
    return Story(
        id=row.id,
        texts=texts,
        commune=row.commune,
        tags=tuple(row.tags),
        image=row.image,
        published=row.published,
        illustrative=row.illustrative,
    )


def _story_text(text: _StoryText) -> StoryText:
    return StoryText(text.title, text.summary, text.body, text.lesson)


def _check_references(
    root: Path, topics: list[Topic], faqs: list[FaqEntry], stories: list[Story], area_codes: set[str] | None
) -> None:
    errors: list[ContentError] = []
    topic_ids = {topic.id for topic in topics}
    seen: set[str] = set()
    for entry in faqs:
        file = f"faq/{entry.topic}.yaml"
        if entry.id in seen:
            errors.append(ContentError(file, entry.id, "id", "used by another entry"))
        seen.add(entry.id)
        if entry.topic not in topic_ids:
            errors.append(ContentError(file, entry.id, "topic", f"unknown topic {entry.topic!r} (see topics.yaml)"))
        if entry.valid_from and entry.valid_until and entry.valid_from > entry.valid_until:
            errors.append(ContentError(file, entry.id, "valid_until", "is before valid_from"))
        for locale in REQUIRED_FAQ_LOCALES:
            length = len(rendered_answer(entry, locale))
            if length > MAX_ANSWER:
                errors.append(
                    ContentError(
                        file,
                        entry.id,
                        f"{locale}.answer",
                        f"{length} characters with its sources; at most {MAX_ANSWER}",
                    )
                )
    for entry in faqs:
        if entry.replaced_by and entry.replaced_by not in seen:
            errors.append(
                ContentError(f"faq/{entry.topic}.yaml", entry.id, "replaced_by", f"unknown entry {entry.replaced_by!r}")
            )
        if entry.replaced_by and not entry.valid_until:
            errors.append(ContentError(f"faq/{entry.topic}.yaml", entry.id, "valid_until", "needed with replaced_by"))
    story_ids: set[str] = set()
    for story in stories:
        if story.id in story_ids:
            errors.append(ContentError("stories.yaml", story.id, "id", "used by another story"))
        story_ids.add(story.id)
        if area_codes is not None and story.commune and story.commune not in area_codes:
            errors.append(ContentError("stories.yaml", story.id, "commune", f"unknown area code {story.commune!r}"))
    if errors:
        raise ContentInvalid(errors)


def _name(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
