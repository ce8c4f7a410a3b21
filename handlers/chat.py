"""What a person types or sends that no button and no step claims.

Outside a flow a message is read for what it is before it is searched as a policy question:
notices on or off, a wish to reach a person, a grievance told as a story (answered with what the
FAQ knows and offered as a report), a tracking code, small talk, or a question. Inside a flow,
text that matches no offered choice is answered at the step, briefly, with the choices numbered;
it is never filed as an unanswered question and the flow is never left without a word.
"""

from __future__ import annotations

import re

from content.search import Status
from handlers import faq, feedback, selfcheck, subscription, tracking
from handlers.actions import FaqShow, FeedbackStory, Menu
from handlers.faq import SUGGEST_TEXT, answer_text, small_talk
from handlers.menu import cancel, main_menu
from handlers.router import MISSES_KEY, ask_again
from handlers.turn import Turn
from handlers.types import Button, Reply
from handlers.words import NO, Intent, intent, is_emoji_or_marks, is_one_of, words
from storage import content as content_repo

STORY_KEY = "story"
MAX_STORY = 4000
_CODE = re.compile(r"\bPA-?([A-HJ-NP-Z2-9]{6})\b", re.IGNORECASE)
_QUESTION_WORDS = frozenset(
    {
        "gi",
        "nao",
        "sao",
        "bao nhieu",
        "bao gio",
        "khi nao",
        "o dau",
        "dau",
        "ai",
        "the nao",
        "nhu the nao",
        "lam sao",
        "co khong",
        "khong",
        "chua",
        "duoc khong",
        "phai khong",
        "what",
        "how",
        "why",
        "when",
        "where",
        "who",
        "which",
        "can",
        "is",
        "are",
        "do",
        "does",
    }
)


async def message(turn: Turn) -> list[Reply]:
    """A message outside any flow."""
    text = turn.text
    if is_emoji_or_marks(text):
        return [Reply(turn._("🙂 Thank you! Type a question whenever you need, or choose from the menu (/menu)."))]
    code = _CODE.search(text)
    if code and len(words(_CODE.sub(" ", text)).split()) <= 4:  # the code, perhaps with "tra cứu"
        turn.args = [f"PA-{code.group(1).upper()}"]
        return await tracking.track(turn)
    if is_one_of(text, NO):
        return [Reply(turn._("All right. Whenever you need, just type your question."))]
    kind = intent(text)
    if kind is Intent.unsubscribe:
        return await subscription.unsubscribe(turn)
    if kind is Intent.subscribe:
        return await subscription.subscribe(turn)
    if kind is Intent.person:
        return await feedback.to_a_person(turn)
    if kind is Intent.question and selfcheck.is_income_question(text):  # "1tr2 a month, are we poor?": work it out
        return await selfcheck.from_question(turn)
    result = faq.search(turn, text)
    friendly = small_talk(turn, result.key)
    if friendly is not None:
        return friendly
    if kind is Intent.grievance:
        return await _grievance(turn, result)
    if result.status is Status.none and not _real_question(text):
        return [
            main_menu(
                turn,
                turn._(
                    "Sorry, I did not understand. Please type your question in a few words (for example: “what is the "
                    "poverty line?”), or choose from the menu."
                ),
            )
        ]
    return await faq.ask(turn)


def _real_question(text: str) -> bool:
    """Whether a message with no answer is worth noting for staff: a few words, or a question."""
    key = words(text)
    padded = f" {key} "
    return (
        len(key.split()) >= 3 or text.rstrip().endswith("?") or any(f" {word} " in padded for word in _QUESTION_WORDS)
    )


async def _grievance(turn: Turn, result) -> list[Reply]:
    """A wrong told as a story: what the FAQ knows, then the offer to send it as a report."""
    turn.data = {STORY_KEY: turn.text[:MAX_STORY]}
    offer = Button(turn._("📨 Send it as a report"), FeedbackStory().pack())
    no = Button(turn._("No, thank you"), Menu("home").pack())
    replies: list[Reply] = []
    if result.status is Status.answer and result.best is not None:
        replies.append(Reply(answer_text(result.best.entry, turn.translator, turn.today)))
        await content_repo.count_faq(
            turn.session, result.best.entry.id, "shown", now=turn.now, area_code=turn.citizen.area_code
        )
    elif result.status is Status.suggest:
        rows = tuple((Button(m.entry.text(turn.locale).question, FaqShow(m.entry.id).pack()),) for m in result.matches)
        return [
            Reply(
                turn._(SUGGEST_TEXT)
                + "\n\n"
                + turn._(
                    "If something went wrong for your household, you can also send what you wrote as a report to "
                    "the commune staff, who must answer it."
                ),
                buttons=((offer,), *rows, (no,)),
            )
        ]
    replies.append(
        Reply(
            turn._(
                "Would you like to send what you wrote as a report to the commune staff? They must answer it, "
                "and you get a tracking code."
            ),
            buttons=((offer,), (no,)),
        )
    )
    return replies


async def in_flow(turn: Turn) -> list[Reply]:
    """Text at a step that matched none of its choices: ask again, briefly, with numbers; from the
    second time, answer a policy question it asks as well (without leaving the step)."""
    misses = int(turn.data.get(MISSES_KEY, 0)) + 1
    replies: list[Reply] = []
    if misses > 1:
        result = faq.search(turn, turn.text)
        if result.status is Status.answer and result.best is not None:
            replies.append(Reply(answer_text(result.best.entry, turn.translator, turn.today)))
    first = turn._("Sorry, I did not catch which one you mean. Tap a choice or type its number:")
    again = turn._("We are still at this step. Tap a choice or type its number, or type “hủy” to stop:")
    replies.append(ask_again(turn, first if misses == 1 else again))
    turn.data[MISSES_KEY] = misses
    return replies


async def in_flow_media(turn: Turn) -> list[Reply]:
    """A photo, voice message or location at a step that takes none."""
    return [ask_again(turn, turn._("I cannot use a file or a location at this step. Tap a choice or type its number:"))]


async def media_first(turn: Turn) -> list[Reply]:
    """A photo, voice message or location sent before anything else: kept for a report; a sticker
    gets a thank-you."""
    kinds = {attachment.kind for attachment in turn.incoming.attachments}
    if turn.incoming.location is None and (not kinds or kinds <= {"sticker", "animation"}):
        return [Reply(turn._("🙂 Thank you! Type a question whenever you need, or choose from the menu (/menu)."))]
    return await feedback.start_with_media(turn)


async def cancel_word(turn: Turn) -> list[Reply]:
    """“hủy”, “thôi”, “cancel” typed inside a flow: leave it, as /huy does."""
    return await cancel(turn)
