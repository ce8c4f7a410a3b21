"""Policy dialogues ("Đối thoại chính sách"): the dialogues planned for the citizen's area, a
question sent in advance (a ticket of kind question), the area's questions with one upvote each,
and — after the dialogue — the answers sent back through the outbox.

The question is typed right after "Send a question", in the state `dialogue.question` (the
dialogue's id kept as `ask`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.i18n import N_, Catalogs
from handlers.actions import (
    DialogueAction,
    DialogueAsk,
    DialogueCancel,
    DialogueQuestions,
    DialogueResend,
    DialogueShow,
    DialogueVote,
    Menu,
)
from handlers.menu import main_menu
from handlers.notify import queue_ticket_message
from handlers.reach import queue_to, reachable
from handlers.router import Action, Routes
from handlers.states import State
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from storage import address_limits, dialogues, outbox
from storage import tickets as ticket_repo
from storage.core import id_of
from storage.models import Dialogue, DialogueStatus, Staff, TicketKind
from storage.ticket_rules import add_working_days

MAX_QUESTION = 1000
SHOWN_QUESTIONS = 8
LABEL_LIMIT = 60
EXCERPT = 280
ASK_KEY = "ask"
HELD_KEY = "held"  # a question the address limit held back, sent with "Send again"
CANCEL = DialogueCancel().pack()

ANSWER_TEXT = N_("Policy dialogue “{topic}” ({date})\nYour question: {question}\n\nAnswer: {answer}")
VOTER_TEXT = N_(
    "🗣 Policy dialogue “{topic}” ({date}): the answer to a question you supported.\n\n"
    "Question: {question}\n\nAnswer: {answer}"
)


def topic_of(dialogue: Dialogue, locale: str) -> str:
    """The dialogue's topic in `locale`, else in Vietnamese."""
    return dialogue.topics.get(locale) or dialogue.topics.get("vi", "")


def _short(text: str, limit: int = LABEL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _menu_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn._("‹ Main menu"), Menu("home").pack()),)


async def list_dialogues(turn: Turn) -> list[Reply]:
    """/doithoai, "Policy dialogues": the dialogues planned for the citizen's commune and province."""
    turn.reset()
    found = await dialogues.upcoming_for_area(turn.session, turn.citizen.area_code, turn.now)
    hint = (
        ""
        if turn.citizen.area_code
        else "\n\n" + turn._("Choose your commune in /caidat to see your commune's dialogues too.")
    )
    if not found:
        return [
            main_menu(
                turn,
                turn._(
                    "There is no policy dialogue planned for your area at the moment. "
                    "Dialogues are announced here and in notices."
                )
                + hint,
            )
        ]
    buttons = tuple(
        (
            Button(
                _short(f"{turn.translator.format_date(d.held_at)} · {topic_of(d, turn.locale)}"),
                DialogueShow(id_of(d)).pack(),
            ),
        )
        for d in found
    )
    return [
        Reply(
            turn._(
                "🗣 Policy dialogues: officials meet citizens and answer their questions. "
                "You can send your question before the dialogue. Choose one:"
            )
            + hint,
            buttons=(*buttons, _menu_row(turn)),
        )
    ]


async def _visible(turn: Turn) -> Dialogue:
    """The dialogue named by the button's id, if the citizen's area may see it."""
    found = await dialogues.get_for_area(turn.session, turn.pressed_as(DialogueAction).dialogue, turn.citizen.area_code)
    if found is None:
        raise StaleAction
    return found


def describe(turn: Turn, dialogue: Dialogue) -> str:
    """Topic, time, officials, place or link, and the deadline for questions."""
    t = turn.translator
    lines = [
        f"🗣 {topic_of(dialogue, turn.locale)}",
        turn._("🕘 When: {when}", when=t.format_datetime(dialogue.held_at)),
    ]
    area = turn.services.areas.get(dialogue.area_code) if dialogue.area_code else None
    lines.append(
        turn._("📍 For: {area}", area=area.label if area and area.level == "commune" else turn._("the whole province"))
    )
    if dialogue.officials:
        lines.append(turn._("👥 Officials: {officials}", officials=dialogue.officials))
    if dialogue.place:
        lines.append(turn._("🏛 Place: {place}", place=dialogue.place))
    if dialogue.online_url:
        lines.append(turn._("🔗 Online: {url}", url=dialogue.online_url))
    if dialogues.is_open(dialogue, turn.now):
        lines.append(
            turn._("✍️ Questions are taken until {deadline}.", deadline=t.format_datetime(dialogue.questions_close_at))
        )
    elif dialogue.status == DialogueStatus.announced:
        lines.append(turn._("Questions for this dialogue are closed."))
    return "\n".join(lines)


async def show(turn: Turn) -> list[Reply]:
    """One dialogue, with what the citizen can do about it."""
    dialogue = await _visible(turn)
    rows: list[tuple[Button, ...]] = []
    if dialogues.is_open(dialogue, turn.now):
        rows.append((Button(turn._("✍️ Send a question"), DialogueAsk(id_of(dialogue)).pack()),))
    rows.append((Button(turn._("👍 Questions of your area"), DialogueQuestions(id_of(dialogue)).pack()),))
    text = describe(turn, dialogue)
    if dialogue.status == DialogueStatus.answered and dialogue.summary:
        text += "\n\n" + turn._("Summary: {summary}", summary=dialogue.summary)
    return [
        Reply(text, buttons=(*rows, (Button(turn._("🗣 Other dialogues"), Menu("dialogues").pack()),), _menu_row(turn)))
    ]


def _closed(turn: Turn, dialogue: Dialogue) -> list[Reply]:
    return [
        main_menu(
            turn,
            turn._(
                "Sorry, questions for the dialogue “{topic}” closed on {deadline}. You can still ask about policies "
                "here at any time, or send feedback with /phananh.",
                topic=topic_of(dialogue, turn.locale),
                deadline=turn.translator.format_datetime(dialogue.questions_close_at),
            ),
        )
    ]


async def ask(turn: Turn) -> list[Reply]:
    """ "Send a question": check the deadline and the daily limit, then wait for the question's text."""
    dialogue = await _visible(turn)
    turn.reset()
    if not dialogues.is_open(dialogue, turn.now):
        return _closed(turn, dialogue)
    sent_today = await ticket_repo.count_today(turn.session, id_of(turn.citizen), turn.now, turn.services.tz)
    if sent_today >= turn.services.tickets.daily_limit:
        return [
            main_menu(
                turn,
                turn._(
                    "You have already sent {count} reports today. To keep the line open for everyone, please send "
                    "more tomorrow.",
                    count=sent_today,
                ),
            )
        ]
    turn.goto(State.dialogue_question, **{ASK_KEY: dialogue.id})
    return [
        Reply(
            turn._(
                "Please type your question for the dialogue “{topic}” in one message (at most 1,000 characters). "
                "Other citizens of your commune will see its text, never your name.",
                topic=topic_of(dialogue, turn.locale),
            ),
            buttons=((Button(turn._("✖ Cancel"), CANCEL),),),
        )
    ]


async def on_question(turn: Turn) -> list[Reply]:
    """The question's text: store it as a question ticket linked to the dialogue."""
    return await _send_question(turn, turn.text[:MAX_QUESTION])


async def resend(turn: Turn) -> list[Reply]:
    """ "Send again": the question the address limit held back."""
    held = turn.data.get(HELD_KEY)
    if turn.state is not State.dialogue_question or not isinstance(held, str) or not held:
        raise StaleAction
    return await _send_question(turn, held)


async def _send_question(turn: Turn, text: str) -> list[Reply]:
    dialogue_id = turn.data.get(ASK_KEY)
    turn.reset()
    dialogue = (
        await dialogues.get_for_area(turn.session, int(dialogue_id), turn.citizen.area_code)
        if isinstance(dialogue_id, int)
        else None
    )
    if dialogue is None:
        raise StaleAction
    if not dialogues.is_open(dialogue, turn.now):
        return _closed(turn, dialogue)
    if not await turn.address_allows(address_limits.REPORT, turn.services.address_limits.reports):
        turn.goto(State.dialogue_question, **{ASK_KEY: dialogue.id, HELD_KEY: text})
        return [
            Reply(
                turn._(
                    "Sorry, many questions and reports have been sent from your network lately, so I cannot send yours "
                    "right now. Your question is kept here: press “📨 Send again” in about an hour, or call your "
                    "commune's office."
                ),
                buttons=(
                    (Button(turn._("📨 Send again"), DialogueResend(id_of(dialogue)).pack()),),
                    (Button(turn._("✖ Cancel"), CANCEL),),
                ),
            )
        ]
    policy = turn.services.tickets
    due = add_working_days(
        turn.now, policy.due_days.get(TicketKind.question, 3), tz=turn.services.tz, holidays=policy.holidays
    )
    name = (turn.incoming.display_name or turn.citizen.display_name or "")[:200] or None
    ticket = await ticket_repo.create_ticket(
        turn.session,
        citizen_id=turn.citizen.id,
        kind=TicketKind.question,
        topic=dialogues.TICKET_TOPIC,
        body=text,
        area_code=_question_area(turn, dialogue),
        anonymous=False,
        reporter_name=name if turn.consented else None,
        locale=turn.locale,
        now=turn.now,
        due_at=due,
    )
    await dialogues.add_question(turn.session, dialogue, ticket)
    return [
        Reply(
            turn._(
                "Thank you, your question for the dialogue “{topic}” has been received.\nTracking code: {code}\n"
                "After the dialogue you will get the answer here. Other citizens of your area can support your "
                "question.",
                topic=topic_of(dialogue, turn.locale),
                code=ticket.code,
            ),
            buttons=(
                (Button(turn._("👍 Questions of your area"), DialogueQuestions(id_of(dialogue)).pack()),),
                _menu_row(turn),
            ),
        )
    ]


def _question_area(turn: Turn, dialogue: Dialogue) -> str | None:
    """The commune a question belongs to: the citizen's, or the dialogue's when it is a commune's."""
    area = turn.services.areas.get(dialogue.area_code) if dialogue.area_code else None
    return turn.citizen.area_code or (dialogue.area_code if area is not None and area.level == "commune" else None)


async def questions(turn: Turn) -> list[Reply]:
    """The published questions of the citizen's area, most supported first, with a button to upvote."""
    dialogue = await _visible(turn)
    return await _questions(turn, dialogue)


async def _questions(turn: Turn, dialogue: Dialogue, note: str = "") -> list[Reply]:
    area = _question_area(turn, dialogue)
    found = await dialogues.questions_for_citizen(
        turn.session, id_of(dialogue), area, id_of(turn.citizen), limit=SHOWN_QUESTIONS
    )
    head = (note + "\n\n" if note else "") + f"🗣 {topic_of(dialogue, turn.locale)}\n"
    back = (Button(turn._("‹ Back to the dialogue"), DialogueShow(id_of(dialogue)).pack()),)
    if not found:
        return [
            Reply(
                head + turn._("No questions from your area yet. Be the first to send one!"),
                buttons=(back, _menu_row(turn)),
            )
        ]
    lines = [turn._("Questions from your area (most supported first):")]
    votes: list[Button] = []
    open_ = dialogues.is_open(dialogue, turn.now)
    for number, item in enumerate(found, start=1):
        mine = " " + turn._("(your question)") if item.mine else ""
        lines.append(f"{number}. {_short(item.text, EXCERPT)} — 👍 {item.votes}{mine}")
        if open_ and not item.mine:
            votes.append(
                Button(
                    turn._("👍 Support no. {number}", number=number),
                    DialogueVote(id_of(dialogue), item.ticket_id).pack(),
                )
            )
    rows = tuple(tuple(votes[i : i + 2]) for i in range(0, len(votes), 2))
    return [Reply(head + "\n".join(lines), buttons=(*rows, back, _menu_row(turn)))]


async def vote(turn: Turn) -> list[Reply]:
    """Support a question of the citizen's area, once."""
    dialogue = await _visible(turn)
    found = await dialogues.question_with_ticket(turn.session, turn.pressed_as(DialogueVote).ticket)
    if (
        found is None
        or found[0].dialogue_id != dialogue.id
        or not found[0].published
        or found[1].area_code != _question_area(turn, dialogue)
    ):
        raise StaleAction
    if not dialogues.is_open(dialogue, turn.now):
        return _closed(turn, dialogue)
    if found[1].citizen_id == turn.citizen.id:
        return await _questions(turn, dialogue, turn._("This is your own question."))
    if await dialogues.has_voted(turn.session, found[0].ticket_id, id_of(turn.citizen)):
        return await _questions(turn, dialogue, turn._("You have already supported this question."))
    if not await turn.address_allows(address_limits.support(found[0].ticket_id), turn.services.address_limits.votes):
        return await _questions(
            turn,
            dialogue,
            turn._(
                "Sorry, this question has had many supports from your network lately, so yours cannot be counted "
                "right now. Please press “Support” again in about an hour."
            ),
        )
    counted = await dialogues.vote(turn.session, found[0].ticket_id, id_of(turn.citizen), turn.now)
    note = (
        turn._("👍 Thank you, your support was counted.")
        if counted
        else turn._("You have already supported this question.")
    )
    return await _questions(turn, dialogue, note)


async def cancel(turn: Turn) -> list[Reply]:
    """Drop the question being written."""
    turn.reset()
    return [main_menu(turn, turn._("OK, your question was not sent."))]


# --- publishing the answers (the dashboard calls this) --------------------------------------------


async def publish_answers(
    session: AsyncSession,
    catalogs: Catalogs,
    staff: Staff,
    dialogue: Dialogue,
    *,
    summary: str,
    notify_voters: bool,
    now: datetime,
) -> tuple[int, int]:
    """Send every written answer to the question's asker (a ticket reply, so the ticket becomes
    answered) and, if asked, to the citizens who supported it; mark the dialogue answered with its
    summary. Returns (questions answered, messages queued)."""
    answered = await dialogues.answered_questions(session, id_of(dialogue))
    queued = 0
    for row in answered:
        answer, ticket = (row.question.answer or "").strip(), row.ticket
        await ticket_repo.reply(session, ticket, staff, answer, now)
        row.question.answered_at = now
        t = catalogs.get(ticket.locale)
        text = t.gettext(ANSWER_TEXT).format(
            topic=topic_of(dialogue, t.locale),
            date=t.format_date(dialogue.held_at),
            question=ticket.body,
            answer=answer,
        )
        queued += await queue_ticket_message(session, catalogs, now, ticket, "reply", text) is not None
        if notify_voters and row.question.published:
            queued += await _tell_voters(session, catalogs, dialogue, row, answer, now)
    dialogue.status = DialogueStatus.answered
    dialogue.summary = summary
    dialogue.answered_at = now
    return len(answered), queued


async def _tell_voters(
    session: AsyncSession,
    catalogs: Catalogs,
    dialogue: Dialogue,
    row: dialogues.RankedQuestion,
    answer: str,
    now: datetime,
) -> int:
    sent = 0
    for citizen_id in await dialogues.voters(session, id_of(row.ticket)):
        citizen = await reachable(session, citizen_id)
        if citizen is None or citizen.id == row.ticket.citizen_id:
            continue
        t = catalogs.get(citizen.locale)
        text = t.gettext(VOTER_TEXT).format(
            topic=topic_of(dialogue, t.locale),
            date=t.format_date(dialogue.held_at),
            question=row.ticket.body,
            answer=answer,
        )
        message = await queue_to(
            session,
            citizen,
            {"text": text},
            priority=outbox.PRIORITY_REMINDER,
            dedupe_key=f"dialogue:{dialogue.id}:answer:{row.ticket.id}:{citizen.id}",
            now=now,
        )
        sent += message is not None
    return sent


ROUTES = Routes(
    commands={"doithoai": list_dialogues, "dialogue": list_dialogues},
    actions={
        Menu("dialogues"): Action(list_dialogues),
        DialogueShow: Action(show),
        DialogueAsk: Action(ask),
        DialogueQuestions: Action(questions),
        DialogueVote: Action(vote),
        DialogueResend: Action(resend),
        DialogueCancel: Action(cancel),
    },
    text={State.dialogue_question: on_question},
)
