"""Polls ("Ý kiến của bà con"): a question staff put to the households of some communes.

When a poll opens it goes out as a notice (a Broadcast with the poll's buttons, fanned out through
the outbox); a citizen answers with a choice button, or for a free-text poll presses "Answer" and
types one message. One answer per citizen, changeable until the poll closes. When it closes, each
participant gets the results of their commune and of all the poll asked.

A free-text answer being written is the state `poll.text`, with the poll's id as `poll_answer`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from content.areas import PROVINCE_CODE
from content.i18n import N_, SUPPORTED, Translator
from handlers.actions import Menu, PollPick, PollReply, PollResend, PollShow, PollSkip, Setting
from handlers.menu import main_menu
from handlers.router import Action, Routes
from handlers.states import State
from handlers.turn import Services, StaleAction, Turn
from handlers.types import Button, Reply
from storage import address_limits, broadcasts
from storage import polls as poll_repo
from storage.core import id_of
from storage.db import SessionFactory
from storage.models import Citizen, Poll, PollAnswer
from storage.polls import Tally

log = logging.getLogger(__name__)

ANSWERING = "poll_answer"
HELD = "held"  # a free-text answer the address limit held back, sent with "Send again"
BUSY = N_(
    "Sorry, this poll has had many answers from your network lately, so yours cannot be recorded right now. "
    "Please answer again in about an hour."
)
BUSY_TEXT = N_(
    "Sorry, this poll has had many answers from your network lately, so yours cannot be recorded right now. "
    "Your opinion is kept here: press “📨 Send again” in about an hour."
)
TITLE = N_("🗳 Your opinion")
HOW_CHOICE = N_("Press one choice below. You can change your mind until {closes}.")
HOW_TEXT = N_("Press “Answer”, then type your opinion in one message. You can change it until {closes}.")
ANSWER_LABEL = N_("✍️ Answer")
CLOSED = N_("This poll has closed, so it takes no more answers. Thank you! Everyone who answered gets the results.")
RESULTS_AREA = N_("Here are the results of the people of {area} for “{question}” ({count} answer(s)):")
RESULTS_ALL_ONLY = N_("Here are the results for “{question}” ({count} answer(s)):")
RESULTS_PROVINCE = N_("The whole province ({count} answer(s)):")
RESULTS_ALL = N_("All communes asked ({count} answer(s)):")
RESULTS_TEXT_AREA = N_(
    "The poll “{question}” has closed: {area_count} people of {area} and {count} in all gave their "
    "opinion. The staff read every answer. Thank you for taking part!"
)
RESULTS_TEXT = N_(
    "The poll “{question}” has closed: {count} people gave their opinion. The staff read every answer. "
    "Thank you for taking part!"
)
THANKS = N_("Thank you for taking part!")


# --- what citizens see --------------------------------------------------------------------------


def question(poll: Poll, locale: str) -> str:
    """The poll's question in a language (Vietnamese when not translated)."""
    return poll.texts.get(locale) or poll.texts["vi"]


def choice_label(poll: Poll, index: int, locale: str) -> str:
    """One choice's label in a language (Vietnamese when not translated)."""
    choice = poll.choices[index]
    return choice.get(locale) or choice["vi"]


def poll_text(poll: Poll, t: Translator) -> str:
    """The poll as a message: title, question, how to answer and until when."""
    how = HOW_TEXT if poll.free_text else HOW_CHOICE
    closes = t.format_datetime(poll.closes_at)
    return f"{t.gettext(TITLE)}\n\n{question(poll, t.locale)}\n\n{t.gettext(how).format(closes=closes)}"


def button_rows(poll: Poll, t: Translator, chosen: int | None = None) -> tuple[tuple[Button, ...], ...]:
    """One button per choice (✅ on the current one), or the "Answer" button of a free-text poll."""
    if poll.free_text:
        return ((Button(t.gettext(ANSWER_LABEL), PollReply(id_of(poll)).pack()),),)
    return tuple(
        (Button(("✅ " if n == chosen else "") + choice_label(poll, n, t.locale), PollPick(id_of(poll), n).pack()),)
        for n in range(len(poll.choices))
    )


def delivery(poll: Poll, services: Services) -> tuple[dict[str, str], list[list[dict]]]:
    """The notice that carries a poll: its text and buttons in every language."""
    translators = {locale: services.catalogs.get(locale) for locale in SUPPORTED}
    texts = {locale: poll_text(poll, t) for locale, t in translators.items()}
    buttons = {locale: [button for row in button_rows(poll, t) for button in row] for locale, t in translators.items()}
    rows = [
        [{"labels": {locale: buttons[locale][n].label for locale in SUPPORTED}, "action": button.action}]
        for n, button in enumerate(buttons["vi"])
    ]
    return texts, rows


def reaches(poll: Poll, citizen: Citizen, services: Services) -> bool:
    """Whether the poll asks this citizen (their commune, household status and language), subscribed or not."""
    target = poll.target or {}
    areas = target.get("areas") or []
    if areas:
        record = services.areas.get(citizen.area_code) if citizen.area_code else None
        if record is None or (record.code not in areas and record.parent_code not in areas):
            return False
    if target.get("statuses") and citizen.household_status not in target["statuses"]:
        return False
    locale = citizen.locale or services.catalogs.default_locale
    return not target.get("locales") or locale in target["locales"]


# --- the citizen's turns --------------------------------------------------------------------------


async def _poll(turn: Turn, poll_id: int) -> Poll:
    """The poll named by the button, or a stale button."""
    poll = await turn.session.get(Poll, poll_id)
    if poll is None or poll.opened_at is None:
        raise StaleAction
    return poll


def _refusal(turn: Turn, poll: Poll) -> list[Reply] | None:
    """Why this citizen cannot answer now (closed, no consent, not asked), or None."""
    if not poll_repo.is_open(poll, turn.now):
        return [main_menu(turn, turn._(CLOSED))]
    if not turn.consented:
        return [
            Reply(
                turn._("To give your opinion, please first agree that we keep your commune and household status."),
                buttons=(
                    (Button(turn._("Agree to store my data"), Setting("consent").pack()),),
                    (Button(turn._("‹ Main menu"), Menu("home").pack()),),
                ),
            )
        ]
    if not reaches(poll, turn.citizen, turn.services):
        return [main_menu(turn, turn._("This poll asks other households, so it cannot take your answer. Thank you!"))]
    return None


def _closes(turn: Turn, poll: Poll) -> str:
    return turn.translator.format_datetime(poll.closes_at)


async def on_pick(turn: Turn) -> list[Reply]:
    """A choice was pressed: store it, or the change of mind, and say what is chosen now."""
    pressed = turn.pressed_as(PollPick)
    poll = await _poll(turn, pressed.poll)
    index = pressed.choice
    if poll.free_text or index >= len(poll.choices):
        raise StaleAction
    refusal = _refusal(turn, poll)
    if refusal is not None:
        return refusal
    before = await poll_repo.answer_of(turn.session, id_of(poll), id_of(turn.citizen))
    if before is None and not await _address_allows(turn, poll):
        return [
            Reply(
                turn._(BUSY),
                buttons=(
                    *button_rows(poll, turn.translator, None),
                    (Button(turn._("‹ Main menu"), Menu("home").pack()),),
                ),
            )
        ]
    await poll_repo.record_answer(turn.session, poll, turn.citizen, now=turn.now, choice=index)
    chosen = choice_label(poll, index, turn.locale)
    if before is not None and before.choice is not None and before.choice != index:
        text = turn._(
            "Changed: you now chose “{choice}” instead of “{before}”. To change your mind, press another choice "
            "before {closes}.",
            choice=chosen,
            before=choice_label(poll, before.choice, turn.locale),
            closes=_closes(turn, poll),
        )
    else:
        text = turn._(
            "Thank you! You chose “{choice}”. To change your mind, press another choice before {closes}.",
            choice=chosen,
            closes=_closes(turn, poll),
        )
    return [
        Reply(
            text,
            buttons=(*button_rows(poll, turn.translator, index), (Button(turn._("‹ Main menu"), Menu("home").pack()),)),
        )
    ]


async def on_reply(turn: Turn) -> list[Reply]:
    """ "Answer" on a free-text poll: the next typed message becomes the answer."""
    poll = await _poll(turn, turn.pressed_as(PollReply).poll)
    if not poll.free_text:
        raise StaleAction
    refusal = _refusal(turn, poll)
    if refusal is not None:
        return refusal
    before = await poll_repo.answer_of(turn.session, id_of(poll), id_of(turn.citizen))
    turn.goto(State.poll_text, **{ANSWERING: poll.id})
    text = turn._("Please type your opinion in one message (at most 1,000 characters).")
    if before is not None and before.text:
        text += "\n\n" + turn._("Your answer now: “{text}”. A new message replaces it.", text=before.text)
    return [Reply(question(poll, turn.locale) + "\n\n" + text, buttons=((Button(turn._("Skip"), PollSkip().pack()),),))]


async def on_text_answer(turn: Turn) -> list[Reply]:
    """The typed opinion for the free-text poll being answered."""
    return await _record_text(turn, turn.text)


async def on_resend(turn: Turn) -> list[Reply]:
    """ "Send again": the opinion the address limit held back."""
    held = turn.data.get(HELD)
    if turn.state is not State.poll_text or not isinstance(held, str) or not held:
        raise StaleAction
    return await _record_text(turn, held)


async def _address_allows(turn: Turn, poll: Poll) -> bool:
    """Whether the client address (web chat) may give this poll one more new answer now."""
    return await turn.address_allows(address_limits.poll_answer(id_of(poll)), turn.services.address_limits.votes)


async def _record_text(turn: Turn, text: str) -> list[Reply]:
    poll_id = turn.data.get(ANSWERING)
    turn.reset()
    poll = await turn.session.get(Poll, poll_id) if isinstance(poll_id, int) else None
    if poll is None:
        return [main_menu(turn, turn._(CLOSED))]
    refusal = _refusal(turn, poll)
    if refusal is not None:
        return refusal
    before = await poll_repo.answer_of(turn.session, id_of(poll), id_of(turn.citizen))
    if before is None and not await _address_allows(turn, poll):
        turn.goto(State.poll_text, **{ANSWERING: poll.id, HELD: text})
        return [
            Reply(
                turn._(BUSY_TEXT),
                buttons=(
                    (Button(turn._("📨 Send again"), PollResend(id_of(poll)).pack()),),
                    (Button(turn._("Skip"), PollSkip().pack()),),
                ),
            )
        ]
    await poll_repo.record_answer(turn.session, poll, turn.citizen, now=turn.now, text=text)
    return [
        main_menu(
            turn,
            turn._(
                "Thank you! Your opinion is recorded. To change it, press “Answer” again before {closes}.",
                closes=_closes(turn, poll),
            ),
        )
    ]


async def on_skip(turn: Turn) -> list[Reply]:
    """Leave a free-text answer unwritten."""
    if turn.state is not State.poll_text:
        raise StaleAction
    turn.reset()
    return [main_menu(turn, turn._("OK, nothing was sent."))]


async def _open_for(turn: Turn) -> list[Poll]:
    return [
        poll
        for poll in await poll_repo.open_polls(turn.session, turn.now)
        if reaches(poll, turn.citizen, turn.services)
    ]


async def show_open(turn: Turn) -> list[Reply]:
    """/ykien, "🗳 Your opinion": the polls open for this citizen (one is shown at once)."""
    turn.reset()
    found = await _open_for(turn)
    if not found:
        return [
            main_menu(
                turn, turn._("There is no poll open for you right now. When there is one, it comes to you as a notice.")
            )
        ]
    if len(found) == 1:
        return [await _shown(turn, found[0])]
    return [
        Reply(
            turn._("Polls open for you — choose one:"),
            buttons=(
                *((Button("🗳 " + question(poll, turn.locale)[:60], PollShow(id_of(poll)).pack()),) for poll in found),
                (Button(turn._("‹ Main menu"), Menu("home").pack()),),
            ),
        )
    ]


async def show_poll(turn: Turn) -> list[Reply]:
    """One poll with its buttons, from the list."""
    poll = await _poll(turn, turn.pressed_as(PollShow).poll)
    if not poll_repo.is_open(poll, turn.now):
        return [main_menu(turn, turn._(CLOSED))]
    return [await _shown(turn, poll)]


async def _shown(turn: Turn, poll: Poll) -> Reply:
    current = await poll_repo.answer_of(turn.session, id_of(poll), id_of(turn.citizen)) if id_of(turn.citizen) else None
    text = poll_text(poll, turn.translator)
    if current is not None:
        answer = current.text if poll.free_text else choice_label(poll, current.choice or 0, turn.locale)
        text += "\n\n" + turn._("Your answer now: “{text}”.", text=answer)
    chosen = current.choice if current is not None else None
    return Reply(
        text,
        buttons=(*button_rows(poll, turn.translator, chosen), (Button(turn._("‹ Main menu"), Menu("home").pack()),)),
    )


ROUTES = Routes(
    commands={"ykien": show_open, "polls": show_open},
    actions={
        Menu("polls"): Action(show_open),
        PollPick: Action(on_pick),
        PollReply: Action(on_reply),
        PollShow: Action(show_poll),
        PollSkip: Action(on_skip),
        PollResend: Action(on_resend),
    },
    text={State.poll_text: on_text_answer},
)


# --- opening, closing, results (the scheduler) -----------------------------------------------------


async def open_due(session, services: Services, now: datetime) -> int:
    """Open the polls whose time has come: each becomes a notice to its target (queued by the
    broadcast job, once: the notice's occurrence key is the poll's); return how many opened."""
    opened = await poll_repo.claim_to_open(session, now)
    for poll in opened:
        texts, buttons = delivery(poll, services)
        poll.recipients = await broadcasts.count_recipients(session, poll.target, services.catalogs.default_locale)
        await broadcasts.create_broadcast(
            session,
            texts=texts,
            target=poll.target,
            send_at=now,
            now=now,
            author=poll.author,
            author_staff_id=poll.author_staff_id,
            buttons=buttons,
            occurrence_key=delivery_key(poll),
        )
        log.info("poll %s opened for about %d citizens", poll.id, poll.recipients)
    return len(opened)


def delivery_key(poll: Poll) -> str:
    """The occurrence key of the notice that delivers a poll."""
    return f"poll:{poll.id}"


async def close_due(session, services: Services, now: datetime) -> int:
    """Close the polls whose time has come and queue each participant's results; return how many closed."""
    closed = await poll_repo.claim_to_close(session, now)
    for poll in closed:
        if poll.opened_at is None:
            continue  # it never went out: nobody to tell
        sent = await queue_results(session, services, poll, now)
        log.info("poll %s closed; results queued for %d citizens", poll.id, sent)
    return len(closed)


async def queue_results(session, services: Services, poll: Poll, now: datetime) -> int:
    """One message per reachable participant with their commune's results and everyone's."""
    by_area = await poll_repo.tally(session, id_of(poll), "area_code")
    people = await poll_repo.participants(session, id_of(poll))
    messages = []
    for citizen, answer in people:
        t = services.catalogs.get(citizen.locale)
        text = results_text(poll, t, services, by_area, answer)
        messages.append((citizen, {"text": text}, f"poll:{poll.id}:results:{citizen.id}"))
    count = await poll_repo.queue_messages(session, messages, now)
    poll.results_sent_at = now
    return count


def results_text(poll: Poll, t: Translator, services: Services, by_area: Tally, answer: PollAnswer) -> str:
    """What one participant is told when the poll closes, in their language."""
    area = services.areas.get(answer.area_code) if answer.area_code else None
    overall = by_area.overall()
    count = sum(overall.values())
    asked = question(poll, t.locale)
    if poll.free_text:
        if area is None:
            return t.gettext(RESULTS_TEXT).format(question=asked, count=count)
        return t.gettext(RESULTS_TEXT_AREA).format(
            question=asked, area=area.label, area_count=by_area.total(area.code), count=count
        )
    if area is None:
        return "\n".join(
            [
                t.gettext(RESULTS_ALL_ONLY).format(question=asked, count=count),
                *_shares(poll, t, overall),
                "",
                t.gettext(THANKS),
            ]
        )
    mine = by_area.groups.get(area.code, {})
    lines = [
        t.gettext(RESULTS_AREA).format(area=area.label, question=asked, count=sum(mine.values())),
        *_shares(poll, t, mine),
    ]
    if len(by_area.groups) > 1:
        whole = not poll.target.get("areas") or PROVINCE_CODE in poll.target["areas"]
        lines += [
            "",
            t.gettext(RESULTS_PROVINCE if whole else RESULTS_ALL).format(count=count),
            *_shares(poll, t, overall),
        ]
    return "\n".join([*lines, "", t.gettext(THANKS)])


def _shares(poll: Poll, t: Translator, counts: dict[int | None, int]) -> Sequence[str]:
    """• label: 58% (7) for each choice, in the poll's order."""
    total = sum(counts.values()) or 1
    return [
        f"• {choice_label(poll, n, t.locale)}: {round(100 * counts.get(n, 0) / total)}% ({counts.get(n, 0)})"
        for n in range(len(poll.choices))
    ]


async def tick(sessions: SessionFactory, services: Services, clock) -> None:
    """The scheduler's job: close the polls that are due (results queued), open those that are due;
    one transaction, acting once even with several processes."""
    now = clock()
    async with sessions() as session:
        closed = await close_due(session, services, now)
        opened = await open_due(session, services, now)
        await session.commit()
    if closed or opened:
        log.info("polls: %d opened, %d closed", opened, closed)
