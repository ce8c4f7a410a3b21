"""Onboarding: greeting, consent, language, commune, household status.

The same steps serve settings (`Mode.settings`) and subscribing (`Mode.subscribe`); every step can
be skipped. The flow is drawn in `states.mmd`.
"""

from __future__ import annotations

from handlers.actions import Area, AreaGroup, AreaPage, Consent, Household, Language
from handlers.menu import main_menu
from handlers.profile import HOUSEHOLD_LABELS, LANGUAGE_NAMES, area_label, settings_menu
from handlers.router import Action, Routes
from handlers.states import Mode, State
from handlers.turn import NotThisStep, OutOfFlow, StaleAction, Turn
from handlers.types import Button, Reply
from handlers.words import NO, SKIP, YES, words
from storage.models import HouseholdStatus

AREA_PREFIX = "area_"
GROUPS_PER_PAGE = 8
MAX_MATCHES = 5


LANGUAGE_KEYS = {
    "vi": frozenset({"viet", "tieng viet", "viet nam", "vn", "vi", "vietnamese"}),
    "en": frozenset({"anh", "tieng anh", "english", "en", "eng"}),
}
HOUSEHOLD_KEYS = {
    HouseholdStatus.poor: frozenset({"ngheo", "ho ngheo", "nha ngheo", "poor"}),
    HouseholdStatus.near_poor: frozenset({"can ngheo", "ho can ngheo", "near poor"}),
    HouseholdStatus.escaped: frozenset({"thoat ngheo", "moi thoat ngheo", "vua thoat ngheo", "escaped"}),
    HouseholdStatus.other: frozenset({"khac", "binh thuong", "trung binh", "kha", "other"}),
    HouseholdStatus.unknown: SKIP | frozenset({"khong noi", "bi mat"}),
}


def _skip(turn: Turn, action: str) -> Button:
    return Button(turn._("Skip"), action, SKIP)


def _mode(turn: Turn) -> Mode:
    return Mode(turn.data.get("mode", Mode.onboarding))


def _pairs(buttons: list[Button]) -> tuple[tuple[Button, ...], ...]:
    """Lay buttons out two per row (short names fit a phone screen)."""
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


# --- entry -----------------------------------------------------------------------------------


async def start(turn: Turn) -> list[Reply]:
    """/start [area_CODE]: greet, then ask consent (or, for a returning citizen, show the menu)."""
    hint = _area_hint(turn)
    greeting = turn._(
        "Hello! I am Cầu Nối, the chatbot of the poverty-reduction programme in Đắk Lắk.\n"
        "You can ask about policies, read stories of households that escaped poverty "
        "and send feedback to the authorities."
    )
    if turn.consented and turn.citizen.locale:
        if hint and hint != turn.citizen.area_code:
            turn.goto(State.area, mode=Mode.settings, hint=hint)
            return [Reply(greeting), ask_area(turn)]
        turn.reset()
        return [main_menu(turn, greeting)]
    turn.goto(State.consent, mode=Mode.onboarding, **({"hint": hint} if hint else {}))
    return [Reply(greeting), ask_consent(turn)]


def _area_hint(turn: Turn) -> str | None:
    """The commune code of a `/start area_CODE` deep link, when it names a commune."""
    for arg in turn.args:
        if arg.startswith(AREA_PREFIX):
            record = turn.services.areas.get(arg.removeprefix(AREA_PREFIX))
            if record is not None and record.level == "commune":
                return record.code
    return None


# --- consent ---------------------------------------------------------------------------------


def ask_consent(turn: Turn) -> Reply:
    """Ask to store personal data, saying what and how to delete it."""
    return Reply(
        turn._(
            "To remember your commune and send you its notices, I need to store your display name, "
            "your commune and your household status. You can delete them at any time with "
            "/deletemydata. Do you agree?"
        ),
        buttons=(
            (Button(turn._("✅ I agree"), Consent("yes").pack(), YES),),
            (Button(turn._("No, only ask questions"), Consent("no").pack(), NO),),
        ),
    )


async def on_consent(turn: Turn) -> list[Reply]:
    """Record the answer to the consent question and move on."""
    agreed = turn.pressed_as(Consent).answer == "yes"
    mode = _mode(turn)
    if agreed:
        turn.citizen.consent_at = turn.now
        turn.citizen.display_name = (turn.incoming.display_name or "")[:200] or None
        note = turn._("Thank you.")
    else:
        note = turn._(
            "No problem. You can still ask any question; I will not store your name, commune or household status."
        )
    if mode is Mode.onboarding:
        turn.goto(State.language, mode=mode, **_keep_hint(turn))
        return [Reply(note), ask_language(turn)]
    if mode is Mode.subscribe and agreed:
        return [Reply(note), *await continue_subscribe(turn)]
    follow = turn.data.get("then")
    if agreed and follow in STEP_ASKERS:
        state, asker = STEP_ASKERS[follow]
        turn.goto(state, mode=mode)
        return [Reply(note), asker(turn)]
    turn.reset()
    if mode is Mode.subscribe:
        return [main_menu(turn, turn._("Without your consent I cannot send you notices."))]
    return [settings_menu(turn, note)]


QUESTION_WORDS = 3  # a message this long at the greeting is a question, not an answer to it


async def on_consent_text(turn: Turn) -> list[Reply]:
    """Text at the consent step: a commune named is kept for later; a question or a story leaves the
    greeting (questions need no registration) and is answered; a short unclear answer is asked again."""
    if _commune_hint(turn):
        return [
            Reply(
                turn._(
                    "I have noted your commune: {commune}. First, please answer this:",
                    commune=area_label(turn, turn.data["hint"]),
                )
            ),
            ask_consent(turn),
        ]
    if _mode(turn) is Mode.onboarding and len(words(turn.text).split()) >= QUESTION_WORDS:
        raise OutOfFlow(
            turn._("No registration is needed to ask. You can set your commune and notices later with /settings.")
        )
    raise NotThisStep


def _commune_hint(turn: Turn) -> bool:
    """Keep a commune named in the text for the commune step; whether one was."""
    if len(words(turn.text).split()) > 6:
        return False
    matches = turn.services.areas.match_commune(turn.text, limit=2)
    if len(matches) == 1 and matches[0].score >= 100:
        turn.data["hint"] = matches[0].area.code
        return True
    return False


def _keep_hint(turn: Turn) -> dict[str, str]:
    return {"hint": turn.data["hint"]} if turn.data.get("hint") else {}


# --- language --------------------------------------------------------------------------------


def ask_language(turn: Turn) -> Reply:
    """Ask which language to use."""
    return Reply(
        turn._("Which language do you prefer?"),
        buttons=(
            tuple(
                Button(name, Language(code).pack(), LANGUAGE_KEYS.get(code, frozenset()))
                for code, name in LANGUAGE_NAMES.items()
            ),
            (_skip(turn, Language("skip").pack()),),
        ),
    )


async def on_language(turn: Turn) -> list[Reply]:
    """Save the chosen language (skipping keeps the current one) and move on."""
    return await _language(turn, turn.pressed_as(Language).code)


async def _language(turn: Turn, choice: str) -> list[Reply]:
    if choice not in (*LANGUAGE_NAMES, "skip"):
        raise StaleAction
    locale = turn.translator.locale if choice == "skip" else choice
    turn.citizen.locale = locale
    turn.use_locale(locale)
    if _mode(turn) is Mode.settings:
        turn.reset()
        return [settings_menu(turn, turn._("Saved."))]
    if turn.consented:
        turn.goto(State.area, mode=Mode.onboarding, **_keep_hint(turn))
        return [ask_area(turn)]
    return finish(turn)


async def on_language_text(turn: Turn) -> list[Reply]:
    """Text at the language step: a commune is kept for the commune step (the language stays);
    anything else, asked again."""
    if _commune_hint(turn):
        return await _language(turn, "skip")
    raise NotThisStep


# --- commune ---------------------------------------------------------------------------------


def ask_area(turn: Turn, page: int = 0) -> Reply:
    """Ask for the commune: confirm a deep-linked one, or offer former districts and typing."""
    hint = turn.data.get("hint")
    record = turn.services.areas.get(hint) if hint else None
    if record is not None:
        return Reply(
            turn._("Do you live in {commune}?", commune=record.label),
            buttons=(
                (Button(turn._("✅ Yes, {commune}", commune=record.label), Area(record.code).pack(), YES),),
                (Button(turn._("Choose another commune"), Area("other").pack(), NO | frozenset({"xa khac"})),),
                (_skip(turn, Area("skip").pack()),),
            ),
        )
    groups = turn.services.areas.groups()
    pages = max(1, -(-len(groups) // GROUPS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = groups[page * GROUPS_PER_PAGE : (page + 1) * GROUPS_PER_PAGE]
    offset = page * GROUPS_PER_PAGE
    buttons = [Button(name, AreaGroup(offset + i).pack()) for i, name in enumerate(shown)]
    nav = []
    if page > 0:
        nav.append(Button(turn._("‹ Back"), AreaPage(page - 1).pack()))
    if page + 1 < pages:
        nav.append(Button(turn._("More ›"), AreaPage(page + 1).pack()))
    return Reply(
        turn._(
            "Which commune or ward do you live in? Type its name (for example: Ea Kao), "
            "or choose your former district below."
        ),
        buttons=(*_pairs(buttons), *((tuple(nav),) if nav else ()), (_skip(turn, Area("skip").pack()),)),
    )


async def on_area_page(turn: Turn) -> list[Reply]:
    """Another page of former districts."""
    return [ask_area(turn, turn.pressed_as(AreaPage).page)]


async def on_area_group(turn: Turn) -> list[Reply]:
    """The communes of one former district."""
    groups = turn.services.areas.groups()
    index = turn.pressed_as(AreaGroup).index
    if index >= len(groups):
        raise StaleAction
    group = groups[index]
    communes = turn.services.areas.communes_in_group(group)
    buttons = [Button(c.label, Area(c.code).pack()) for c in communes]
    page = index // GROUPS_PER_PAGE
    return [
        Reply(
            turn._("Communes and wards of the former {district}:", district=group),
            buttons=(
                *_pairs(buttons),
                (Button(turn._("‹ Back"), AreaPage(page).pack()), _skip(turn, Area("skip").pack())),
            ),
        )
    ]


async def on_area_text(turn: Turn) -> list[Reply]:
    """A typed commune name, matched without diacritics."""
    matches = turn.services.areas.match_commune(turn.text, limit=MAX_MATCHES)
    if len(matches) == 1 and matches[0].score >= 100:
        return _save_area(turn, matches[0].area.code)
    turn.data.pop("hint", None)
    if not matches:
        return [
            Reply(
                turn._("I could not find a commune called “{name}”. Please type the name again.", name=turn.text[:60])
            ),
            ask_area(turn),
        ]
    buttons = tuple((Button(m.area.label, Area(m.area.code).pack()),) for m in matches)
    return [
        Reply(
            turn._("Did you mean one of these?"),
            buttons=(
                *buttons,
                (Button(turn._("None of these"), Area("other").pack()),),
                (_skip(turn, Area("skip").pack()),),
            ),
        )
    ]


async def on_area(turn: Turn) -> list[Reply]:
    """A commune chosen from a button, "another commune", or skip."""
    choice = turn.pressed_as(Area).choice
    if choice == "other":
        turn.data.pop("hint", None)
        return [ask_area(turn)]
    if choice == "skip":
        return _after_area(turn, [])
    record = turn.services.areas.get(choice)
    if record is None or record.level != "commune":
        raise StaleAction
    return _save_area(turn, record.code)


def _save_area(turn: Turn, code: str) -> list[Reply]:
    turn.citizen.area_code = code
    return _after_area(turn, [Reply(turn._("Saved: {commune}.", commune=area_label(turn, code)))])


def _after_area(turn: Turn, replies: list[Reply]) -> list[Reply]:
    mode = _mode(turn)
    if mode is Mode.settings:
        turn.reset()
        return [*replies[:-1], settings_menu(turn, replies[-1].text if replies else None)]
    if mode is Mode.subscribe:
        turn.reset()
        return [*replies, *subscribed(turn)]
    turn.goto(State.household, mode=mode)
    return [*replies, ask_household(turn)]


# --- household -------------------------------------------------------------------------------


def ask_household(turn: Turn) -> Reply:
    """Ask the household status, with "prefer not to say"."""
    buttons = tuple(
        (Button(turn._(label), Household(status).pack(), HOUSEHOLD_KEYS.get(status, frozenset())),)
        for status, label in HOUSEHOLD_LABELS.items()
    )
    return Reply(
        turn._("Last question: what is your household's status? It helps us send you the right information."),
        buttons=buttons,
    )


async def on_household(turn: Turn) -> list[Reply]:
    """Save the household status and finish."""
    turn.citizen.household_status = turn.pressed_as(Household).status
    if _mode(turn) is Mode.settings:
        turn.reset()
        return [settings_menu(turn, turn._("Saved."))]
    return finish(turn)


def finish(turn: Turn) -> list[Reply]:
    """End onboarding: subscribe a consenting citizen to notices and show the menu."""
    turn.reset()
    text = turn._("Thank you, you are all set. You can change these at any time with /settings.")
    if turn.consented:
        turn.citizen.subscribed = True
        text += "\n" + turn._("You will receive notices from your commune. To stop them, send /unsubscribe.")
    return [main_menu(turn, text)]


# --- subscribing -----------------------------------------------------------------------------


async def continue_subscribe(turn: Turn) -> list[Reply]:
    """After consent for notices: ask the commune if unknown, else subscribe."""
    if turn.citizen.area_code is None:
        turn.goto(State.area, mode=Mode.subscribe)
        return [ask_area(turn)]
    turn.reset()
    return subscribed(turn)


def subscribed(turn: Turn) -> list[Reply]:
    """Switch notices on and say so."""
    turn.citizen.subscribed = True
    commune = turn.citizen.area_code
    text = (
        turn._(
            "Done: you will receive notices for {commune}. To stop them, send /unsubscribe.",
            commune=area_label(turn, commune),
        )
        if commune
        else turn._("Done: you will receive province-wide notices. To stop them, send /unsubscribe.")
    )
    return [main_menu(turn, text)]


STEP_ASKERS = {
    "language": (State.language, ask_language),
    "area": (State.area, ask_area),
    "household": (State.household, ask_household),
}

ROUTES = Routes(
    commands={"start": start},
    actions={
        Consent: Action(on_consent, frozenset({State.consent})),
        Language: Action(on_language, frozenset({State.language})),
        Area: Action(on_area, frozenset({State.area})),
        AreaGroup: Action(on_area_group, frozenset({State.area})),
        AreaPage: Action(on_area_page, frozenset({State.area})),
        Household: Action(on_household, frozenset({State.household})),
    },
    text={State.consent: on_consent_text, State.language: on_language_text, State.area: on_area_text},
)
