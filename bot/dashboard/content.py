"""Dashboard screens: content (FAQ entries and stories) and unanswered questions.

Forms are checked with the content loader's own rules (`content.importer.validate_faq`,
`validate_story`); errors are shown beside the fields. A save rebuilds this process's search
index at once; other processes notice the new content version (`content.refresh`).
Editing is for admin and province staff; every member of staff sees the unanswered questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot import keys
from bot.dashboard import web as dash
from bot.dashboard.editor import CHECK_MESSAGES, EDITORS, LOCALES, RESERVED_IDS, Editor, Item, add_routes
from bot.dashboard.preview import story_bubbles
from content.check import REVIEW_DAYS, entries_to_review, review_until
from content.i18n import N_
from content.importer import faq_entry, faq_row, load_bundle, story, story_row, validate_faq, validate_story
from content.loader import ContentError, ContentInvalid
from content.model import ContentBundle, FaqEntry, Story
from content.refresh import rebuild
from content.text import PARTICLES, fold
from handlers.faq import answer_text
from storage import content_edit

routes = web.RouteTableDef()
FAQ_TEXT_FIELDS = ("question", "answer", "alternatives", "keywords")
STORY_TEXT_FIELDS = ("title", "summary", "body", "lesson")
SPARE_SOURCES = 2
UNANSWERED_PAGE = 25
PICK_LIMIT = 8
ID_WORDS = 6
_DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")

# The loader's own messages (English, for content authors) as messages for staff in their language.
ERROR_MESSAGES = (
    *CHECK_MESSAGES,
    (re.compile(r"List should have at least 1 item"), N_("Give at least one source.")),
    (re.compile(r"Input should be a valid date"), N_("Not a date: use dd/mm/yyyy.")),
    (re.compile(r"kebab-case"), N_("Use lower-case letters, digits and hyphens, e.g. poverty-line-2027.")),
    (re.compile(r"reserved"), N_("This id is already used.")),
    (re.compile(r"is before valid_from"), N_("Must not be before the start date.")),
    (
        re.compile(r"(?P<length>\d+) characters with its sources; at most (?P<max>\d+)"),
        N_("{length} characters with its sources; at most {max}. Shorten the answer."),
    ),
    (re.compile(r"unknown entry"), N_("No entry has this id.")),
    (re.compile(r"needed with replaced_by"), N_("Needed when another entry replaces this one.")),
    (re.compile(r"unknown area code"), N_("Choose a commune from the list.")),
)


@dataclass(frozen=True)
class Pick:
    """An entry offered when a question becomes an alternative phrasing."""

    entry: FaqEntry
    score: float | None


# ---- FAQ entries -------------------------------------------------------------------------


@routes.get(f"{dash.PREFIX}/content", name="admin-content")
@dash.roles(*EDITORS)
async def content_list(request: web.Request) -> web.Response:
    """GET /admin/content[?topic=&q=&state=]: the entries to review soon (`content.check`), FAQ
    entries and stories."""
    topic = request.query.get("topic", "")
    state = request.query.get("state", "")
    typed = request.query.get("q", "").strip()[:200]
    today = dash.today_of(request)
    async with dash.reading(request) as session:
        bundle = await load_bundle(session)
    entries = [entry for entry in bundle.faqs if (not topic or entry.topic == topic) and _in_state(entry, state, today)]
    if typed:
        words = set(fold(typed).split())
        entries = [
            entry for entry in entries if words <= set(fold(" ".join(_phrasings(entry)) + " " + entry.id).split())
        ]
    return dash.render(
        request,
        "admin/content/list.html",
        {
            "entries": entries,
            "stories": bundle.stories,
            "topics": bundle.topics,
            "topic": topic,
            "state": state,
            "q": typed,
            "today": today,
            "message": _message(request),
            "review": entries_to_review(bundle.faqs, today),
            "review_until": review_until(today),
            "review_days": REVIEW_DAYS,
        },
    )


class ContentEditor(Editor[Item]):
    """FAQ entries and stories: checked by the content loader; a save rebuilds the search index."""

    audit = "content"
    messages = ERROR_MESSAGES
    unnamed_field = "general"

    def field_name(self, field: str) -> str:
        """As the base does, and "sources.0.date" → "source_0_date" (the rows of the sources)."""
        name = super().field_name(field)
        if name.startswith("sources_") and name.count("_") >= 2:
            number, _, part = name[len("sources_") :].partition("_")
            name = f"source_{number}_{part}"
        return name

    async def set_published(self, session: Any, row: Any, published: bool, request: web.Request) -> None:
        """Publish or withdraw the row."""
        await content_edit.set_published(session, row, published, dash.now_of(request))

    async def saved(self, request: web.Request, session: Any) -> None:
        """Rebuild this process's search index."""
        await rebuild(session, request.app[keys.SERVICES].library)


def _faq_form(entry: FaqEntry) -> dict[str, Any]:
    """The form fields of a stored entry."""
    form: dict[str, Any] = {
        "id": entry.id,
        "topic": entry.topic,
        "replaced_by": entry.replaced_by or "",
        "needs_review": entry.needs_review,
        "published": entry.published,
        "sources": _pad(
            [
                {"document": s.document, "date": s.date.isoformat() if s.date else "", "url": s.url or ""}
                for s in entry.sources
            ]
        ),
    }
    for name in ("valid_from", "valid_until", "reviewed_on"):
        value = getattr(entry, name)
        form[name] = value.isoformat() if value else ""
    for locale in LOCALES:
        text = entry.texts.get(locale)
        if text is not None:
            form.update(
                {
                    f"{locale}_question": text.question,
                    f"{locale}_answer": text.answer,
                    f"{locale}_alternatives": "\n".join(text.alternatives),
                    f"{locale}_keywords": "\n".join(text.keywords),
                }
            )
    return form


def _posted_faq_form(post: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form fields as posted (strings, checkboxes as booleans)."""
    form: dict[str, Any] = {
        name: dash.form_text(post, name, dash.MAX_FIELD)
        for name in ("id", "topic", "replaced_by", "valid_from", "valid_until", "reviewed_on", "from_question")
    }
    form["id"] = form["id"].lower()
    for locale in LOCALES:
        for name in FAQ_TEXT_FIELDS:
            form[f"{locale}_{name}"] = dash.form_text(post, f"{locale}_{name}", 4000)
    form["needs_review"] = "needs_review" in post
    form["published"] = "published" in post
    sources = []
    for number in range(20):
        source = {
            part: dash.form_text(post, f"source_{number}_{part}", dash.MAX_FIELD)
            for part in ("document", "date", "url")
        }
        if any(source.values()):
            sources.append(source)
    form["sources"] = _pad(sources)
    return form


def _faq_item(form: dict[str, Any], stored: FaqEntry | None) -> dict[str, Any]:
    """The form as a content-file entry, for the loader's checks."""
    item: dict[str, Any] = {
        "id": form.get("id", ""),
        "sources": [
            {"document": s["document"], "date": _day(s["date"]), "url": s["url"] or None}
            for s in form["sources"]
            if any(s.values())
        ],
        "valid_from": _day(form.get("valid_from", "")),
        "valid_until": _day(form.get("valid_until", "")),
        "replaced_by": form.get("replaced_by") or None,
        "reviewed_on": _day(form.get("reviewed_on", "")),
        "needs_review": bool(form.get("needs_review")),
        "published": bool(form.get("published")),
        "image": stored.image if stored else None,
        "audio": stored.audio if stored else None,
    }
    for locale in LOCALES:
        item[locale] = {
            "question": form.get(f"{locale}_question", ""),
            "answer": form.get(f"{locale}_answer", "").replace("\r\n", "\n"),
            "alternatives": _lines(form.get(f"{locale}_alternatives", "")),
            "keywords": _lines(form.get(f"{locale}_keywords", "")),
        }
    return item


class FaqEditor(ContentEditor[FaqEntry]):
    """FAQ entries; a new one may answer an unanswered question (?question=ID), which then leaves the list."""

    path = f"{dash.PREFIX}/content/faq"
    route = "admin-content-faq"
    id_name = "faq_id"
    template = "admin/content/faq.html"
    object_type = "faq"

    get = staticmethod(content_edit.get_faq)
    item = staticmethod(faq_entry)
    form = staticmethod(_faq_form)
    posted = staticmethod(_posted_faq_form)

    async def blank(self, request: web.Request, session: Any, bundle: ContentBundle) -> dict[str, Any]:
        """An empty form, or one holding the unanswered question ?question=ID."""
        form: dict[str, Any] = {"published": True, "sources": _pad([])}
        question_id = request.query.get("question", "")
        if question_id:
            question = await content_edit.get_unanswered(session, _int(question_id))
            if question is None:
                raise web.HTTPNotFound()
            locale = question.locale if question.locale in LOCALES else "vi"
            form.update(
                {
                    f"{locale}_question": question.text,
                    "id": _suggest_id(question.text, bundle),
                    "from_question": str(question.id),
                    "topic": _likely_topic(request, question.text),
                }
            )
        return form

    async def check(
        self, request: web.Request, session: Any, form: dict[str, Any], bundle: ContentBundle, stored: Any
    ) -> FaqEntry:
        """Checked by the loader's rules."""
        return _checked_faq(form, bundle, stored_entry=faq_entry(stored) if stored else None)

    async def save(self, request: web.Request, session: Any, item: FaqEntry, form: dict[str, Any]) -> dict[str, Any]:
        """Save the entry; the question it answers leaves the unanswered list."""
        now = dash.now_of(request)
        await content_edit.save_faq(session, faq_row(item, 0, now), now)
        question = await _linked_question(session, form)
        if question is None:
            return {}
        await content_edit.remove_unanswered(session, question.id or 0)
        return {"from_question": question.text}

    async def context(
        self, request: web.Request, form: dict[str, Any], bundle: ContentBundle, preview: FaqEntry | None
    ) -> dict[str, Any]:
        """The topics and the ids a replacement may name."""
        return {"topics": bundle.topics, "entry_ids": [entry.id for entry in bundle.faqs]}

    async def shown(self, request: web.Request, item: FaqEntry) -> list[dict[str, Any]]:
        """The answer in each language exactly as the bot sends it, with the buttons under it."""
        services = request.app[keys.SERVICES]
        today = dash.today_of(request)
        shown = []
        for locale in LOCALES:
            translator = services.catalogs.get(locale)
            shown.append(
                {
                    "locale": locale,
                    "question": item.text(locale).question,
                    "text": answer_text(item, translator, today),
                    "buttons": [translator.gettext("👍 Helpful"), translator.gettext("👎 Not helpful")],
                    "valid_today": item.is_valid_on(today),
                }
            )
        return shown


def _checked_faq(form: dict[str, Any], bundle: Any, *, stored_entry: FaqEntry | None) -> FaqEntry:
    """The form as an entry, checked like a content file (raises ContentInvalid)."""
    if stored_entry is None and form.get("id") in RESERVED_IDS:
        raise ContentInvalid([ContentError("dashboard", form["id"], "id", "reserved")])
    item = _faq_item(form, stored_entry)
    return validate_faq(item, form.get("topic", ""), bundle, new=stored_entry is None)


async def _linked_question(session: Any, form: dict[str, Any]) -> Any:
    """The unanswered question this entry was made from, if any (and if still listed)."""
    question_id = form.get("from_question", "")
    return await content_edit.get_unanswered(session, _int(question_id)) if question_id else None


# ---- stories -----------------------------------------------------------------------------


def _story_form(item: Story) -> dict[str, Any]:
    form: dict[str, Any] = {
        "id": item.id,
        "commune": item.commune or "",
        "tags": ", ".join(item.tags),
        "illustrative": item.illustrative,
        "published": item.published,
    }
    for locale, text in item.texts.items():
        for name in STORY_TEXT_FIELDS:
            form[f"{locale}_{name}"] = getattr(text, name)
    return form


def _posted_story_form(post: MultiDictProxy[Any]) -> dict[str, Any]:
    form: dict[str, Any] = {
        "id": dash.form_text(post, "id", dash.MAX_FIELD).lower(),
        "commune": dash.form_text(post, "commune", dash.MAX_FIELD),
        "tags": dash.form_text(post, "tags", dash.MAX_FIELD),
        "illustrative": "illustrative" in post,
        "published": "published" in post,
    }
    for locale in LOCALES:
        for name in STORY_TEXT_FIELDS:
            form[f"{locale}_{name}"] = dash.form_text(post, f"{locale}_{name}", 4000)
    return form


def _story_item(form: dict[str, Any], image: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": form["id"],
        "published": form["published"],
        "illustrative": form["illustrative"],
        "commune": form["commune"] or None,
        "image": image,
        "tags": [tag.strip() for tag in form["tags"].split(",") if tag.strip()],
    }
    for locale in LOCALES:
        text = {name: form.get(f"{locale}_{name}", "").replace("\r\n", "\n") for name in STORY_TEXT_FIELDS}
        if locale == "vi" or any(text.values()):
            item[locale] = text
    return item


class StoryEditor(ContentEditor[Story]):
    """Stories: their commune must be one of the province's; a draft is previewed as if published."""

    path = f"{dash.PREFIX}/content/stories"
    route = "admin-content-story"
    id_name = "story_id"
    template = "admin/content/story.html"
    object_type = "story"

    get = staticmethod(content_edit.get_story)
    item = staticmethod(story)
    form = staticmethod(_story_form)
    posted = staticmethod(_posted_story_form)

    async def check(
        self, request: web.Request, session: Any, form: dict[str, Any], bundle: ContentBundle, stored: Any
    ) -> Story:
        """Checked by the loader's rules; the stored image stays."""
        if stored is None and form["id"] in RESERVED_IDS:
            raise ContentInvalid([ContentError("dashboard", form["id"], "id", "reserved")])
        return validate_story(
            _story_item(form, stored.image if stored else None),
            bundle,
            [area.code for area in request.app[keys.SERVICES].areas.records],
            new=stored is None,
        )

    async def save(self, request: web.Request, session: Any, item: Story, form: dict[str, Any]) -> dict[str, Any]:
        """Save the story."""
        now = dash.now_of(request)
        await content_edit.save_story(session, story_row(item, 0, now), now)
        return {}

    async def context(
        self, request: web.Request, form: dict[str, Any], bundle: ContentBundle, preview: Story | None
    ) -> dict[str, Any]:
        """The communes a story may be from."""
        return {"communes": request.app[keys.SERVICES].areas.communes()}

    async def shown(self, request: web.Request, item: Story) -> list[dict[str, Any]]:
        """The story in each of its languages, as the bot shows it once published."""
        published = _as_published(item)
        return [
            {"locale": locale, "replies": await story_bubbles(request, published, locale)}
            for locale in LOCALES
            if locale in item.texts
        ]


add_routes(routes, FaqEditor())
add_routes(routes, StoryEditor())


# ---- unanswered questions ----------------------------------------------------------------


@routes.get(f"{dash.PREFIX}/unanswered", name="admin-unanswered")
async def unanswered(request: web.Request) -> web.Response:
    """GET /admin/unanswered[?page=N]: questions the bot could not answer, the most frequent first."""
    page = max(_int(request.query.get("page", "1")), 1)
    async with dash.reading(request) as session:
        questions, total = await content_edit.unanswered_page(
            session, offset=(page - 1) * UNANSWERED_PAGE, limit=UNANSWERED_PAGE
        )
    return dash.render(
        request,
        "admin/content/unanswered.html",
        {
            "questions": questions,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // UNANSWERED_PAGE)),
            "can_edit": dash.staff_of(request).role in EDITORS,
            "message": _message(request),
        },
    )


@routes.get(r"/admin/unanswered/{question_id:\d{1,18}}/alternative", name="admin-unanswered-alternative")
@dash.roles(*EDITORS)
async def alternative_choose(request: web.Request) -> web.Response:
    """GET /admin/unanswered/ID/alternative[?q=]: find the entry this question is another wording of."""
    async with dash.reading(request) as session:
        question = await content_edit.get_unanswered(session, _int(request.match_info["question_id"]))
        bundle = await load_bundle(session)
    if question is None:
        raise web.HTTPNotFound()
    typed = request.query.get("q", "").strip()[:300] or question.text
    return dash.render(
        request,
        "admin/content/alternative.html",
        {
            "question": question,
            "q": typed,
            "picks": _picks(request, typed, bundle.faqs),
            "entries": bundle.faqs,
            "topics": {topic.id: topic for topic in bundle.topics},
            "error": request.query.get("error") == "1",
        },
    )


@routes.post(r"/admin/unanswered/{question_id:\d{1,18}}/alternative", name="admin-unanswered-add")
@dash.roles(*EDITORS)
async def alternative_add(request: web.Request) -> web.StreamResponse:
    """POST /admin/unanswered/ID/alternative faq_id=…: add the question to that entry's phrasings."""
    faq_id = dash.form_text(await request.post(), "faq_id", dash.MAX_FIELD)
    question_id = _int(request.match_info["question_id"])
    now = dash.now_of(request)
    async with request.app[keys.SESSIONS]() as session:
        question = await content_edit.get_unanswered(session, question_id)
        if question is None:
            raise web.HTTPNotFound()
        row = await content_edit.get_faq(session, faq_id) if faq_id else None
        if row is None:
            raise dash.redirect(request, "admin-unanswered-alternative", {"error": "1"}, question_id=str(question_id))
        stored = faq_entry(row)
        locale = question.locale if question.locale in LOCALES else "vi"
        form = _faq_form(stored)
        if fold(question.text) not in {fold(line) for line in _lines(form.get(f"{locale}_alternatives", ""))}:
            form[f"{locale}_alternatives"] = "\n".join(
                filter(None, [form.get(f"{locale}_alternatives", ""), question.text])
            )
        try:
            entry = _checked_faq(form, await load_bundle(session), stored_entry=stored)
        except ContentInvalid:
            raise dash.redirect(
                request, "admin-unanswered-alternative", {"error": "1"}, question_id=str(question_id)
            ) from None
        await content_edit.save_faq(session, faq_row(entry, 0, now), now)
        await dash.record(
            session, request, "content.edit", object_type="faq", object_id=entry.id, added_alternative=question.text
        )
        await content_edit.remove_unanswered(session, question_id)
        await session.commit()
        await rebuild(session, request.app[keys.SERVICES].library)
    raise dash.redirect(request, "admin-unanswered", {"done": entry.id})


@routes.post(r"/admin/unanswered/{question_id:\d{1,18}}/dismiss", name="admin-unanswered-dismiss")
@dash.roles(*EDITORS)
async def unanswered_dismiss(request: web.Request) -> web.StreamResponse:
    """POST /admin/unanswered/ID/dismiss: drop a question that needs no answer (spam, a greeting)."""
    question_id = _int(request.match_info["question_id"])
    async with request.app[keys.SESSIONS]() as session:
        question = await content_edit.get_unanswered(session, question_id)
        if question is None:
            raise web.HTTPNotFound()
        await dash.record(
            session,
            request,
            "unanswered.dismiss",
            object_type="unanswered",
            object_id=str(question_id),
            text=question.text,
            count=question.count,
        )
        await content_edit.remove_unanswered(session, question_id)
        await session.commit()
    raise dash.redirect(request, "admin-unanswered", {"dismissed": "1"})


def _picks(request: web.Request, typed: str, entries: tuple[FaqEntry, ...]) -> list[Pick]:
    """The search's own suggestions first, then entries sharing the most words with the text."""
    result = request.app[keys.SERVICES].library.index.search(typed, on=dash.today_of(request), limit=PICK_LIMIT)
    picks = [Pick(match.entry, match.score) for match in result.matches]
    chosen = {pick.entry.id for pick in picks}
    words = set(fold(typed).split()) - PARTICLES
    shared = sorted(
        (
            (len(words & set(fold(" ".join(_phrasings(entry))).split())), entry)
            for entry in entries
            if entry.id not in chosen
        ),
        key=lambda pair: -pair[0],
    )
    picks += [Pick(entry, None) for count, entry in shared if count][: PICK_LIMIT - len(picks)]
    return picks


# ---- helpers -----------------------------------------------------------------------------


def _message(request: web.Request) -> str:
    translator = dash.translator_of(request)
    if request.query.get("done"):
        return translator.gettext(N_("Added to the entry {id}: the bot now answers this question.")).format(
            id=request.query["done"][:100]
        )
    if request.query.get("dismissed"):
        return translator.gettext(N_("The question was removed from the list."))
    return ""


def _in_state(entry: FaqEntry, state: str, today: date) -> bool:
    return {
        "published": entry.published,
        "draft": not entry.published,
        "review": entry.needs_review,
        "in_force": entry.is_valid_on(today),
        "expired": bool(entry.valid_until and entry.valid_until < today),
    }.get(state, True)


def _phrasings(entry: FaqEntry) -> list[str]:
    return [phrase for text in entry.texts.values() for phrase in (text.question, *text.alternatives, *text.keywords)]


def _suggest_id(text: str, bundle: Any) -> str:
    """A kebab-case id from the question's first words, not used yet."""
    words = [word for word in fold(text).split() if word not in PARTICLES][:ID_WORDS] or ["cau-hoi"]
    base = "-".join(words)[:80].strip("-")
    candidate, number = base, 2
    while candidate in bundle.faq_by_id or candidate in RESERVED_IDS:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def _likely_topic(request: web.Request, text: str) -> str:
    result = request.app[keys.SERVICES].library.index.search(text, on=dash.today_of(request))
    return result.best.entry.topic if result.best else ""


def _pad(sources: list[dict[str, str]]) -> list[dict[str, str]]:
    return sources + [
        {"document": "", "date": "", "url": ""} for _ in range(SPARE_SOURCES if sources else SPARE_SOURCES + 1)
    ]


def _day(value: str) -> str | None:
    """A date field: empty → none; dd/mm/yyyy → ISO; anything else is left for the checks to refuse."""
    value = value.strip()
    found = _DAY_FIRST.match(value)
    return f"{found[3]}-{int(found[2]):02d}-{int(found[1]):02d}" if found else (value or None)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 18 else 0


def _as_published(item: Story) -> Story:
    """The story as if published, so that the bot's handler shows a draft too."""
    return Story(
        id=item.id,
        texts=item.texts,
        commune=item.commune,
        tags=item.tags,
        image=item.image,
        published=True,
        illustrative=item.illustrative,
    )
