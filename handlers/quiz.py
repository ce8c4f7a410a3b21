"""The policy quiz ("Đố vui chính sách"): rounds of 5 questions, one at a time, with immediate
feedback citing the FAQ entry's legal source, and a score at the end.

A round lives in the database (`QuizPlay`): each button names the round and the question it
answers, so an old or repeated button no longer fits and gets the engine's "menu has expired".
During a contest the citizen is asked once whether their name may be shown with their score.
"""

from __future__ import annotations

from content.i18n import N_, SUPPORTED, Catalogs
from content.loader import SOURCE_LABELS
from content.quiz import QuizQuestion, question_of
from handlers.actions import Menu, QuizAnswer, QuizName, QuizStart
from handlers.router import Action, Routes
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from storage import quiz as quiz_repo
from storage.core import id_of
from storage.models import QuizContest, QuizPlay

BROADCAST_LABEL = N_("🎯 Play the policy quiz")
START_ACTION = QuizStart().pack()
MAX_NAME = 100
LEFT_THE_QUIZ = N_(
    "This question has just been taken out of the quiz (the rule it asks about has changed), so it does not count."
)


def broadcast_button(catalogs: Catalogs) -> list[dict]:
    """A notice's button row that starts the quiz, labelled in each language."""
    return [
        {
            "labels": {locale: catalogs.get(locale).gettext(BROADCAST_LABEL) for locale in SUPPORTED},
            "action": START_ACTION,
        }
    ]


def contest_title(contest: QuizContest, locale: str) -> str:
    """A contest's title in `locale`, else Vietnamese."""
    return str(contest.titles.get(locale) or contest.titles.get("vi") or "")


async def _questions(turn: Turn) -> dict[str, QuizQuestion]:
    """The questions drawable today, by id: published, citing an FAQ entry citizens are given today
    (`FaqEntry.is_served_on`), so a question leaves the quiz on the day its rule ends."""
    served = [entry.id for entry in turn.services.library.served(turn.today)]
    return {
        row.id: question_of(row.id, row.topic, row.faq_id, row.answer, row.texts, row.published)
        for row in await quiz_repo.drawable_questions(turn.session, served)
    }


async def start(turn: Turn) -> list[Reply]:
    """/dovui, /quiz, the menu or a notice's button: a new round of unseen questions."""
    turn.reset()
    questions = await _questions(turn)
    if not questions:
        return [Reply(turn._("Sorry, there are no quiz questions yet. Please try again later."))]
    chosen = await quiz_repo.draw(turn.session, id_of(turn.citizen), list(questions))
    play = await quiz_repo.start_play(turn.session, turn.citizen, chosen, turn.now)
    intro = turn._("🎯 Policy quiz: {count} questions. Choose the right answer to each one.", count=len(chosen))
    contest = await quiz_repo.contest_on(turn.session, turn.today)
    if contest is not None:
        intro += "\n" + turn._(
            "🏆 The contest “{title}” runs until {end}: your round counts for your commune!",
            title=contest_title(contest, turn.locale),
            end=turn.translator.format_day(contest.ends_on),
        )
    return [Reply(intro), question_reply(turn, play, questions[chosen[0]])]


def question_reply(turn: Turn, play: QuizPlay, question: QuizQuestion) -> Reply:
    """One question with its choices as buttons."""
    position = len(play.answers)
    text = question.text(turn.locale)
    return Reply(
        turn._(
            "Question {number}/{total}: {question}",
            number=position + 1,
            total=len(play.question_ids),
            question=text.question,
        ),
        buttons=tuple(
            (Button(choice, QuizAnswer(id_of(play), position, index).pack()),)
            for index, choice in enumerate(text.choices)
        ),
    )


async def _own_play(turn: Turn, play_id: int) -> QuizPlay:
    """The round a button names, if it is this citizen's current one."""
    play = await quiz_repo.current_play(turn.session, id_of(turn.citizen))
    if play is None or play.id != play_id:
        raise StaleAction
    return play


async def on_answer(turn: Turn) -> list[Reply]:
    """A choice: right or wrong with the explanation and its source, then the next question or the score.
    Questions whose rule ended since the round began (say, at midnight on 31/12) leave the round."""
    pressed = turn.pressed_as(QuizAnswer)
    play = await _own_play(turn, pressed.play)
    position, choice = pressed.position, pressed.choice
    if position != len(play.answers) or position >= len(play.question_ids):
        raise StaleAction
    questions = await _questions(turn)
    question = questions.get(play.question_ids[position])
    if question is not None and not 0 <= choice < len(question.text(turn.locale).choices):
        raise StaleAction
    contest = await quiz_repo.contest_on(turn.session, turn.today)
    contest_id = contest.id if contest else None
    quiz_repo.drop_undrawable(play, questions)
    if question is None:
        replies = [Reply(turn._(LEFT_THE_QUIZ))]
        finished = quiz_repo.finish_if_answered(play, turn.now, contest_id)
    else:
        replies = [feedback_reply(turn, question, choice)]
        finished = await quiz_repo.record_answer(
            turn.session, play, choice, choice == question.answer, turn.now, contest_id
        )
    turn.session.add(play)
    if not finished:
        return [*replies, question_reply(turn, play, questions[play.question_ids[len(play.answers)]])]
    if not play.answers:  # every question of the round left the quiz before it was answered
        return [Reply(replies[0].text, buttons=_again_buttons(turn))]
    return [*replies, *await _finish(turn, play, contest)]


def feedback_reply(turn: Turn, question: QuizQuestion, choice: int) -> Reply:
    text = question.text(turn.locale)
    if choice == question.answer:
        verdict = turn._("✅ Correct!")
    else:
        verdict = turn._("❌ Not quite. The right answer is: {answer}", answer=text.choices[question.answer])
    parts = [verdict, text.explanation]
    entry = turn.services.library.faq(question.faq_id)
    if entry is not None:
        parts.append(entry.source_line(SOURCE_LABELS.get(turn.locale, "Nguồn")))
    return Reply("\n".join(parts))


def _again_buttons(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return ((Button(turn._("🎯 Play again"), START_ACTION),), (Button(turn._("‹ Main menu"), Menu("home").pack()),))


async def _finish(turn: Turn, play: QuizPlay, contest: QuizContest | None) -> list[Reply]:
    """The score; during a contest, ask once whether the citizen's name may be shown."""
    score = turn._("You answered {score}/{total} questions correctly.", score=play.score, total=len(play.question_ids))
    thanks = turn._("Thank you for playing! Play again later for other questions.")
    if contest is None:
        return [Reply(f"{score}\n{thanks}", buttons=_again_buttons(turn))]
    earlier = await quiz_repo.earlier_name_choice(turn.session, id_of(turn.citizen), id_of(contest), id_of(play))
    name = (turn.citizen.display_name or "")[:MAX_NAME] if turn.consented else ""
    if earlier is not None or not name:
        play.public_name = name if earlier else ""  # the answer given before stands; nobody is named without it
        return [Reply(f"{score}\n{thanks}", buttons=_again_buttons(turn))]
    return [
        Reply(score),
        Reply(
            turn._(
                "May we show your name “{name}” with your score on the contest's list of players? "
                "Only the name and the score are shown.",
                name=name,
            ),
            buttons=(
                (Button(turn._("✅ Yes, show my name"), QuizName(id_of(play), "yes").pack()),),
                (Button(turn._("🙈 No, keep me anonymous"), QuizName(id_of(play), "no").pack()),),
            ),
        ),
    ]


async def on_name(turn: Turn) -> list[Reply]:
    """Yes or no to showing the citizen's name in this contest."""
    pressed = turn.pressed_as(QuizName)
    play = await turn.session.get(QuizPlay, pressed.play)
    if play is None or play.citizen_id != turn.citizen.id or play.contest_id is None or play.public_name is not None:
        raise StaleAction
    shown = pressed.answer == "yes" and turn.consented and bool(turn.citizen.display_name)
    play.public_name = (turn.citizen.display_name or "")[:MAX_NAME] if shown else ""
    turn.session.add(play)
    text = turn._("Thank you! Your name is shown with your score.") if shown else turn._("OK, your name is not shown.")
    return [Reply(text, buttons=_again_buttons(turn))]


ROUTES = Routes(
    commands={"dovui": start, "quiz": start},
    actions={
        Menu("quiz"): Action(start),
        QuizStart: Action(start),
        QuizAnswer: Action(on_answer),
        QuizName: Action(on_name),
    },
)
