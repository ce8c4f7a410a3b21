"""Policy Q&A: answering typed questions, "did you mean" choices, browsing by topic, ratings."""

from __future__ import annotations

from datetime import date, timedelta

from content.i18n import N_, Translator
from content.loader import rendered_answer
from content.model import FaqEntry
from content.search import SearchResult, Status
from content.text import PARTICLES
from handlers import observe, selfcheck
from handlers.actions import FaqForward, FaqHelpful, FaqNone, FaqShow, FaqUnhelpful, Menu, Topic
from handlers.menu import main_menu
from handlers.router import Action, Routes
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from storage import content as content_repo
from storage.core import id_of

SUGGEST_TEXT = N_("I am not sure which question you mean. Is it one of these?")
NO_ANSWER_TEXT = N_(
    "Sorry, I do not have an answer to that yet. I have noted your question so that staff can add an answer."
)
CHANGE_NOTE = N_("Note: this applies until {until}. From {start} a new rule applies.")
SINCE_NOTE = N_("Note: this applies from {start}. Until {until} the earlier rule applied.")
PAGE = 6
RELATED = 3
CHANGE_NOTICE_DAYS = 60
LINE_TOPICS = frozenset({"poverty_standard", "household_types"})


def answer_text(entry: FaqEntry, translator: Translator, today: date, previous: FaqEntry | None = None) -> str:
    """The answer as the citizen sees it: text, sources, and a note when a newer rule is near, or
    when this rule replaced `previous` not long ago (the two are never answered together)."""
    text = rendered_answer(entry, translator.locale)
    if entry.replaced_by and entry.valid_until and entry.valid_until - today <= timedelta(days=CHANGE_NOTICE_DAYS):
        text += "\n\n" + translator.gettext(CHANGE_NOTE).format(
            until=translator.format_day(entry.valid_until),
            start=translator.format_day(entry.valid_until + timedelta(days=1)),
        )
    elif (
        previous is not None
        and previous.valid_until
        and timedelta(0) < today - previous.valid_until <= timedelta(days=CHANGE_NOTICE_DAYS)
    ):
        text += "\n\n" + translator.gettext(SINCE_NOTE).format(
            start=translator.format_day(previous.valid_until + timedelta(days=1)),
            until=translator.format_day(previous.valid_until),
        )
    return text


GREETINGS = frozenset({"chao", "alo", "a lo", "hi", "hello", "hey", "helo", "hi hello"})
THANKS = frozenset(
    {
        "cam",
        "cam nhieu",
        "thanks",
        "thank you",
        "thank",
        "ok",
        "oke",
        "okay",
        "ok cam",
        "vang",
        "da",
        "u",
        "uh",
        "um",
        "dong y",
        "roi",
        "duoc",
    }
)


def small_talk(turn: Turn, key: str) -> list[Reply] | None:
    """A greeting or a thank-you: answer kindly instead of searching (and recording) it."""
    words = [word for word in key.split() if word not in PARTICLES or word in ("chao", "hi", "hello")]
    key = " ".join(dict.fromkeys(words)) or key
    if key in GREETINGS:
        return [main_menu(turn, turn._("Hello! How can I help you? You can type a question or choose below."))]
    if key in THANKS or not key:
        return [Reply(turn._("You are welcome! Send me a question whenever you need."))]
    return None


def search(turn: Turn, text: str) -> SearchResult:
    """Search the FAQ for `text` with the rules in force today."""
    return turn.services.library.index.search(text, on=turn.today)


async def ask(turn: Turn) -> list[Reply]:
    """A typed question: answer it, offer choices, or say honestly there is no answer yet."""
    result = search(turn, turn.text)
    friendly = small_talk(turn, result.key)
    if friendly is not None:
        return friendly
    turn.data["question"] = turn.text[:1000]
    if result.status is Status.answer and result.best is not None:
        observe.FAQ_OUTCOMES.labels("answer").inc()
        return await show_answer(turn, result.best.entry)
    if result.status is Status.suggest:
        observe.FAQ_OUTCOMES.labels("suggest").inc()
        buttons = tuple(
            (Button(m.entry.text(turn.locale).question, FaqShow(m.entry.id).pack()),) for m in result.matches
        )
        return [
            Reply(
                turn._(SUGGEST_TEXT),
                buttons=(*buttons, (Button(turn._("None of these questions"), FaqNone().pack()),)),
            )
        ]
    return await no_answer(turn, result.key)


async def show_answer(turn: Turn, entry: FaqEntry) -> list[Reply]:
    """An entry's answer with rating buttons and related questions."""
    await content_repo.count_faq(turn.session, entry.id, "shown", now=turn.now, area_code=turn.citizen.area_code)
    related = _related(turn, entry)
    rows: list[tuple[Button, ...]] = [
        (
            Button(turn._("👍 Helpful"), FaqHelpful(entry.id).pack()),
            Button(turn._("👎 Not helpful"), FaqUnhelpful(entry.id).pack()),
        ),
        *((Button("↪ " + other.text(turn.locale).question, FaqShow(other.id).pack()),) for other in related),
    ]
    if entry.topic in LINE_TOPICS:  # an answer about the line: the household can check itself against it
        rows.insert(1, (selfcheck.offer_button(turn),))
    previous = turn.services.library.previous(entry)
    return [Reply(answer_text(entry, turn.translator, turn.today, previous), buttons=tuple(rows), image=entry.image)]


def _related(turn: Turn, entry: FaqEntry) -> list[FaqEntry]:
    """Up to three other entries of the same topic, the nearest ones first."""
    siblings = turn.services.library.in_topic(entry.topic, turn.today)
    if entry not in siblings:
        return [other for other in siblings][:RELATED]
    position = siblings.index(entry)
    ordered = sorted(
        (other for other in siblings if other.id != entry.id), key=lambda o: abs(siblings.index(o) - position)
    )
    return ordered[:RELATED]


async def no_answer(turn: Turn, key: str) -> list[Reply]:
    """Record the question for staff and offer to send it to them."""
    observe.FAQ_OUTCOMES.labels("none").inc()
    question = turn.data.get("question") or turn.text
    row = await content_repo.record_unanswered(turn.session, key or question, question, turn.locale, now=turn.now)
    return [
        Reply(
            turn._(NO_ANSWER_TEXT),
            buttons=(
                (Button(turn._("📨 Send my question to staff"), FaqForward(id_of(row)).pack()),),
                (Button(turn._("📚 Browse topics"), Menu("faq").pack()),),
            ),
        )
    ]


async def on_show(turn: Turn) -> list[Reply]:
    """A question chosen from a list or a suggestion."""
    entry = turn.services.library.faq(turn.pressed_as(FaqShow).faq_id)
    if entry is None or not entry.is_served_on(turn.today):
        raise StaleAction
    return await show_answer(turn, entry)


async def on_none(turn: Turn) -> list[Reply]:
    """None of the suggestions fit."""
    question = turn.data.get("question")
    if not question:
        raise StaleAction
    return await no_answer(turn, search(turn, question).key)


async def on_helpful(turn: Turn) -> list[Reply]:
    """👍 under an answer."""
    return await _rate(turn, turn.pressed_as(FaqHelpful).faq_id, helpful=True)


async def on_unhelpful(turn: Turn) -> list[Reply]:
    """👎 under an answer."""
    return await _rate(turn, turn.pressed_as(FaqUnhelpful).faq_id, helpful=False)


async def _rate(turn: Turn, faq_id: str, *, helpful: bool) -> list[Reply]:
    entry = turn.services.library.faq(faq_id)
    if entry is None:
        raise StaleAction
    observe.FAQ_OUTCOMES.labels("helpful" if helpful else "unhelpful").inc()
    await content_repo.count_faq(
        turn.session, entry.id, "helpful" if helpful else "unhelpful", now=turn.now, area_code=turn.citizen.area_code
    )
    if helpful:
        return [Reply(turn._("Thank you for your feedback!"))]
    question = turn.data.get("question") or entry.text(turn.locale).question
    row = await content_repo.record_unanswered(
        turn.session, search(turn, question).key, question, turn.locale, now=turn.now
    )
    return [
        Reply(
            turn._("Thank you. Would you like to send your question to staff?"),
            buttons=((Button(turn._("📨 Send my question to staff"), FaqForward(id_of(row)).pack()),),),
        )
    ]


async def on_forward(turn: Turn) -> list[Reply]:
    """Send an unanswered question to staff."""
    row = await content_repo.mark_forwarded(turn.session, turn.pressed_as(FaqForward).question)
    if row is None:
        raise StaleAction
    return [
        main_menu(
            turn,
            turn._(
                "Your question has been passed to staff so that they can add an answer. Please ask me again in a few "
                "days."
            ),
        )
    ]


async def topics(turn: Turn) -> list[Reply]:
    """The "Policy Q&A" button: topics to browse, or type a question."""
    turn.reset()
    available = turn.services.library.topics(turn.today)
    return [
        Reply(
            turn._("Choose a topic, or simply type your question (for example: “what is the poverty line?”)."),
            buttons=tuple((Button(topic.title(turn.locale), Topic(topic.id).pack()),) for topic in available),
        )
    ]


async def topic_questions(turn: Turn) -> list[Reply]:
    """The questions of a topic, a page at a time."""
    pressed = turn.pressed_as(Topic)
    topic = turn.services.library.topic(pressed.topic_id)
    if topic is None:
        raise StaleAction
    entries = turn.services.library.in_topic(topic.id, turn.today)
    page = pressed.page or 0
    pages = max(1, -(-len(entries) // PAGE))
    page = min(max(page, 0), pages - 1)
    shown = entries[page * PAGE : (page + 1) * PAGE]
    rows: list[tuple[Button, ...]] = [
        (Button(entry.text(turn.locale).question, FaqShow(entry.id).pack()),) for entry in shown
    ]
    nav = []
    if page > 0:
        nav.append(Button(turn._("‹ Back"), Topic(topic.id, page - 1).pack()))
    if page + 1 < pages:
        nav.append(Button(turn._("More ›"), Topic(topic.id, page + 1).pack()))
    if nav:
        rows.append(tuple(nav))
    rows.append((Button(turn._("📚 Browse topics"), Menu("faq").pack()),))
    return [Reply(f"{topic.title(turn.locale)} ({page + 1}/{pages})", buttons=tuple(rows))]


async def prompt(turn: Turn) -> list[Reply]:
    """/hoidap: the topics."""
    return await topics(turn)


ROUTES = Routes(
    commands={"hoidap": prompt, "faq": prompt},
    actions={
        Menu("faq"): Action(topics),
        Topic: Action(topic_questions),
        FaqShow: Action(on_show),
        FaqHelpful: Action(on_helpful),
        FaqUnhelpful: Action(on_unhelpful),
        FaqNone: Action(on_none),
        FaqForward: Action(on_forward),
    },
)
