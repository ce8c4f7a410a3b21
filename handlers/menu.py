"""The main menu, help, leaving a flow, and the answers for what nothing else handles."""

from __future__ import annotations

from handlers.actions import Menu
from handlers.router import Action, Routes
from handlers.turn import Turn
from handlers.types import Button, Reply


def main_menu(turn: Turn, text: str | None = None) -> Reply:
    """The main menu, with the notices button showing what pressing it will do."""
    _ = turn._
    notices = (
        Button(_("🔕 Turn notices off"), Menu("unsubscribe").pack())
        if turn.citizen.subscribed
        else Button(_("🔔 Turn notices on"), Menu("subscribe").pack())
    )
    return Reply(
        text or _("What would you like to do? You can also type your question directly."),
        buttons=(
            (Button(_("❓ Policy Q&A"), Menu("faq").pack()),),
            (Button(_("🧮 Household self-check"), Menu("selfcheck").pack()),),
            (Button(_("📖 Stories"), Menu("stories").pack()),),
            (Button(_("🎯 Policy quiz"), Menu("quiz").pack()),),
            (Button(_("🗳 Your opinion"), Menu("polls").pack()),),
            (Button(_("🗣 Policy dialogues"), Menu("dialogues").pack()),),
            (Button(_("✉️ Send feedback"), Menu("feedback").pack()), Button(_("📋 My feedback"), Menu("mine").pack())),
            (notices,),
            (Button(_("⚙️ Settings"), Menu("settings").pack()), Button(_("ℹ️ Help"), Menu("help").pack())),
            (Button(_("🌟 Nominate a model household"), Menu("nominate").pack()),),
        ),
    )


async def show_menu(turn: Turn) -> list[Reply]:
    """/menu: leave any flow and show the main menu."""
    turn.reset()
    return [main_menu(turn)]


async def show_help(turn: Turn) -> list[Reply]:
    """/help, /trogiup: what the bot does and its commands."""
    return [
        Reply(
            turn._(
                "Cầu Nối answers questions about the poverty-reduction programme, shares stories "
                "of households that escaped poverty and passes your feedback to the authorities.\n\n"
                "Commands:\n/menu – main menu\n/feedback – send feedback or a complaint\n"
                "/track – your reports and their answers\n/settings – language, commune, household\n"
                "/subscribe – receive notices\n/unsubscribe – stop notices\n"
                "/selfcheck – is my household under the poverty line?\n"
                "/nominate – tell us about a model household or a good initiative\n"
                "/quiz – policy quiz\n/dialogue – policy dialogues: send a question\n"
                "/cancel – leave what you are doing\n/deletemydata – delete your data\n\n"
                "Or simply type your question, with or without diacritics."
            )
        ),
        main_menu(turn),
    ]


async def cancel(turn: Turn) -> list[Reply]:
    """/huy, /cancel: leave whatever flow is in progress."""
    in_flow = turn.state.value != "idle"
    turn.reset()
    text = turn._("OK, stopped. Nothing more was saved.") if in_flow else turn._("There is nothing to cancel.")
    return [main_menu(turn, text)]


async def stale(turn: Turn) -> list[Reply]:
    """A button from an old message: say so politely and show the menu."""
    return [main_menu(turn, turn._("This menu has expired. Please choose again from the main menu."))]


async def unknown_command(turn: Turn) -> list[Reply]:
    """A command the bot does not know."""
    command = turn.text.split()[0][:40]
    return [
        main_menu(turn, turn._("I do not know the command {command}. Send /help to see the commands.", command=command))
    ]


ROUTES = Routes(
    commands={"menu": show_menu, "help": show_help, "trogiup": show_help, "huy": cancel, "cancel": cancel},
    actions={
        Menu("help"): Action(show_help),
        Menu("home"): Action(show_menu),
    },
)
