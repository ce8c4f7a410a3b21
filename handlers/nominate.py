"""Nominating a real story ("Giới thiệu gương thoát nghèo"): who (a household, a group, a cooperative,
an initiative), the commune, what they did and what changed (text or voice, up to 5 photos), whether
the household agrees to be named and photographed, the sender's name or anonymous, a summary to
confirm, then a code. A nominee who is not the sender is asked by the commune, never by the bot.
The draft lives in the conversation state; /huy drops it. The flow is drawn in `nominate.mmd`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.i18n import N_, Catalogs, Translator
from handlers import drafts
from handlers.actions import (
    Menu,
    NominateArea,
    NominateCancel,
    NominateConsent,
    NominateEdit,
    NominateIdentity,
    NominatePhotosDone,
    NominateSubmit,
    NominateWho,
    StoryShow,
)
from handlers.drafts import MAX_BODY
from handlers.menu import main_menu
from handlers.profile import area_label
from handlers.reach import tell
from handlers.router import Action, Routes
from handlers.states import State, flow_states
from handlers.turn import StaleAction, Turn
from handlers.types import Button, Reply
from handlers.words import words
from storage import address_limits
from storage import nominations as nomination_repo
from storage.core import id_of
from storage.models import Nomination, OutboxMessage
from storage.ticket_rules import CODE_LENGTH, fold_symbols

MAX_PHOTOS = 5
MIN_WORDS = 4  # a story shorter than this is asked for again
NOMINEE_LABELS = {
    "household": N_("🏠 A household"),
    "group": N_("👥 A group of households"),
    "cooperative": N_("🤝 A cooperative"),
    "initiative": N_("💡 A good initiative or model"),
}
NOMINEE_KEYS = {
    "household": frozenset({"ho", "mot ho", "ho gia dinh", "gia dinh", "nha", "household", "a household", "family"}),
    "group": frozenset({"nhom", "nhom ho", "to", "to hop tac", "nhieu ho", "group"}),
    "cooperative": frozenset({"hop tac xa", "htx", "cooperative", "coop"}),
    "initiative": frozenset({"sang kien", "mo hinh", "cach lam", "cach lam hay", "initiative", "model"}),
}
CONSENT_KEYS = {
    "self": frozenset({"dong y", "co", "nha toi", "ho toi", "la toi", "chinh toi", "yes", "ok", "duoc"}),
    "self_unnamed": frozenset({"khong ghi ten", "giau ten", "khong neu ten", "khong chup anh", "an danh ho"}),
    "ask_commune": frozenset(
        {
            "ho khac",
            "nguoi khac",
            "nha khac",
            "khong phai nha toi",
            "khong phai toi",
            "other",
            "someone else",
            "xa hoi",
            "nho xa hoi",
        }
    ),
}
BUSY = N_(
    "Sorry, many messages have been sent from your network lately, so I cannot send your nomination right now. "
    "It is kept here: press “📨 Send” again in about an hour."
)
PUBLISHED = N_("🌟 Thank you! The story you sent ({code}) has been published: “{title}”. Send /chuyen to read it.")
NOT_USED = N_(
    "🌟 About the story you sent ({code}): the commune staff could not use it this time.\n{reason}\n"
    "Thank you for telling us; you are welcome to send another."
)


async def start(turn: Turn) -> list[Reply]:
    """/gioithieu, /nominate, "Nominate a model household": ask who it is about."""
    turn.goto(State.nominate_who, draft={})
    return [
        Reply(
            turn._(
                "Do you know a household, a group or a cooperative in your commune that has escaped poverty, "
                "or a good way of working others could learn from? Tell us, and the commune staff may share it as a "
                "real story.\n\nWho is it about?"
            ),
            buttons=(
                *(
                    (Button(turn._(NOMINEE_LABELS[key]), NominateWho(key).pack(), NOMINEE_KEYS[key]),)
                    for key in nomination_repo.NOMINEES
                ),
                FLOW.cancel_row(turn),
            ),
        )
    ]


async def on_who(turn: Turn) -> list[Reply]:
    """Who it is about was chosen: ask the commune."""
    nominee = turn.pressed_as(NominateWho).nominee
    if nominee not in nomination_repo.NOMINEES:
        raise StaleAction
    return _ask_area(turn, {**drafts.draft(turn), "nominee": nominee})


def _ask_area(turn: Turn, draft: dict) -> list[Reply]:
    """The commune step, starting from the citizen's own commune unless one was chosen."""
    return FLOW.ask_area(turn, {**draft, "area": draft.get("area") if "area" in draft else turn.citizen.area_code})


def _ask_story(turn: Turn, draft: dict) -> list[Reply]:
    """The commune is known: ask the story."""
    drafts.goto(turn, State.nominate_story, draft)
    return [ask_story(turn)]


def ask_story(turn: Turn) -> Reply:
    """Ask what they did and what changed: text or a voice message."""
    return Reply(
        turn._(
            "What did they do, and what changed for them? Please write a few sentences (how they started, "
            "what support they used, how life is now), or send a voice message."
        ),
        buttons=(FLOW.cancel_row(turn),),
    )


async def on_story(turn: Turn) -> list[Reply]:
    """The story, as text or a voice message; photos sent meanwhile are kept."""
    before = drafts.draft(turn)
    draft, notes = await FLOW.kept(turn, {key: value for key, value in before.items() if key != "body"})
    if turn.text:
        if len(words(turn.text).split()) < MIN_WORDS and "voice" not in draft:
            more = turn._("Please tell a little more: what did they do, and what changed?")
            return FLOW.body_again(turn, before, draft, [Reply(more, buttons=(FLOW.cancel_row(turn),))])
        draft["body"] = turn.text[:MAX_BODY]
    if "body" not in draft:
        return FLOW.body_again(turn, before, draft, [*(Reply(note) for note in notes), ask_story(turn)])
    return FLOW.after_body(turn, draft, notes)


async def on_photos_done(turn: Turn) -> list[Reply]:
    """Photos done: ask about consent."""
    draft = drafts.draft(turn)
    drafts.goto(turn, State.nominate_consent, draft)
    return [
        Reply(
            turn._(
                "Is it your own household? A story is published with names and photos only if the household agrees."
            ),
            buttons=(
                (
                    Button(
                        turn._("🙋 Yes, it is us, and we agree to be named and photographed"),
                        NominateConsent("self").pack(),
                        CONSENT_KEYS["self"],
                    ),
                ),
                (
                    Button(
                        turn._("🙋 It is us, but please do not name us"),
                        NominateConsent("self_unnamed").pack(),
                        CONSENT_KEYS["self_unnamed"],
                    ),
                ),
                (
                    Button(
                        turn._("👥 It is someone else: the commune will ask them"),
                        NominateConsent("ask_commune").pack(),
                        CONSENT_KEYS["ask_commune"],
                    ),
                ),
                FLOW.cancel_row(turn),
            ),
        )
    ]


async def on_consent(turn: Turn) -> list[Reply]:
    """Consent chosen: ask the sender's name or anonymous."""
    consent = turn.pressed_as(NominateConsent).consent
    if consent not in nomination_repo.CONSENTS:
        raise StaleAction
    draft = {**drafts.draft(turn), "consent": consent}
    notes = []
    if consent == "ask_commune":
        notes.append(
            Reply(
                turn._(
                    "The commune staff will ask them first. The bot never contacts them, and nothing is "
                    "published without their agreement."
                )
            )
        )
    drafts.goto(turn, State.nominate_identity, draft)
    return [
        *notes,
        Reply(
            turn._(
                "Should the staff know who sent this story? If you choose anonymous, your name is not shown anywhere."
            ),
            buttons=FLOW.identity_rows(turn),
        ),
    ]


async def on_identity(turn: Turn) -> list[Reply]:
    """Named or anonymous: show the summary; named with no name known: ask it first."""
    choice = turn.pressed_as(NominateIdentity).choice
    name = (turn.incoming.display_name or turn.citizen.display_name or "")[: drafts.MAX_NAME] or None
    draft = {**drafts.draft(turn), "anonymous": choice == "anonymous", "name": None if choice == "anonymous" else name}
    if choice == "named" and name is None:
        return FLOW.ask_name(turn, draft)
    return _confirm(turn, draft)


async def on_name(turn: Turn) -> list[Reply]:
    """The sender's name, typed."""
    parts = turn.text.split()
    if not 1 <= len(parts) <= 6 or not all(part.replace(".", "").isalpha() for part in parts):
        return [FLOW.name_again(turn)]
    return FLOW.named(turn)


def _consent_label(turn: Turn, consent: str) -> str:
    return {
        "self": turn._("our own household, agrees to be named and photographed"),
        "self_unnamed": turn._("our own household, not to be named"),
        "ask_commune": turn._("someone else, the commune will ask them"),
    }[consent]


def _confirm(turn: Turn, draft: dict) -> list[Reply]:
    turn.goto(State.nominate_confirm, draft=draft)
    lines = [
        turn._("Please check what you are sending:"),
        turn._("About: {who}", who=turn._(NOMINEE_LABELS[draft["nominee"]])),
        turn._("Commune: {commune}", commune=area_label(turn, draft.get("area"))),
        turn._("Story: {body}", body=draft.get("body", "")[:1500]),
        turn._("Photos: {count}", count=len(draft.get("photos", []))),
        turn._("Consent: {consent}", consent=_consent_label(turn, draft["consent"])),
        drafts.sender_line(turn, draft),
    ]
    return FLOW.summary(turn, lines)


async def on_submit(turn: Turn) -> list[Reply]:
    """Store the nomination; the engine commits before this confirmation is sent."""
    draft = drafts.draft(turn)
    if not {"nominee", "body", "consent"} <= draft.keys():
        raise StaleAction
    if not await turn.address_allows(address_limits.REPORT, turn.services.address_limits.reports):
        return [Reply(turn._(BUSY)), *_confirm(turn, draft)]
    photos = [{"kind": "photo", **photo} for photo in draft.get("photos", [])]
    files = [*photos, *([{"kind": "voice", **draft["voice"]}] if draft.get("voice") else [])]
    nomination = await nomination_repo.create(
        turn.session,
        citizen_id=turn.citizen.id,
        nominee=draft["nominee"],
        area_code=draft.get("area"),
        body=draft["body"],
        consent=draft["consent"],
        anonymous=bool(draft.get("anonymous")),
        nominator_name=draft.get("name"),
        locale=turn.locale,
        files=files,
        now=turn.now,
    )
    turn.reset()
    return [
        main_menu(
            turn,
            turn._(
                "Thank you! The commune staff will read your story.\nCode: {code}\n"
                "You will get a message here if it is published, or if it cannot be used. To check it, send /tracuu "
                "{code}.",
                code=nomination.code,
            ),
        )
    ]


async def on_cancel(turn: Turn) -> list[Reply]:
    """Drop the draft."""
    turn.reset()
    return [main_menu(turn, turn._("OK, nothing was sent. Nothing was saved."))]


FLOW = drafts.Flow(
    steps=drafts.Steps(State.nominate_story, State.nominate_photos, State.nominate_area, State.nominate_name),
    ask_body=ask_story,
    after_area=_ask_story,
    confirm=_confirm,
    cancel=NominateCancel(),
    photos_done=NominatePhotosDone(),
    area_choice=NominateArea,
    identity_choice=NominateIdentity,
    submit=NominateSubmit(),
    edit_body=NominateEdit("story"),
    edit_area=NominateEdit("area"),
    edit_body_label=N_("✏️ Edit the story"),
    area_question=N_("Is it in {commune}?"),
    commune_question=N_("In which commune or ward? Type its name (for example: Ea Kao)."),
    photo_invite=N_("If you have photos of them or of their work, send them now (up to 5). Otherwise press “Skip”."),
    text_added=N_("I have added this to the story."),
    max_photos=MAX_PHOTOS,
    too_many_photos=N_("A nomination takes at most {count} photos; this one was not added."),
    voice_kept=N_("I have kept your voice message."),
    photos_kept=N_("I have kept {count} photo(s)."),
)
FLOW_STATES = flow_states("nominate")

ROUTES = Routes(
    commands={"gioithieu": start, "nominate": start},
    actions={
        Menu("nominate"): Action(start),
        NominateWho: Action(on_who, FLOW_STATES),
        NominateArea: Action(FLOW.on_area, FLOW_STATES),
        NominatePhotosDone: Action(on_photos_done, FLOW_STATES),
        NominateConsent: Action(on_consent, FLOW_STATES),
        NominateIdentity: Action(on_identity, FLOW_STATES),
        NominateEdit: Action(FLOW.on_edit, FLOW_STATES),
        NominateSubmit: Action(on_submit, FLOW_STATES),
        NominateCancel: Action(on_cancel, FLOW_STATES),
    },
    text={
        State.nominate_area: FLOW.on_area_text,
        State.nominate_story: on_story,
        State.nominate_photos: FLOW.on_photo,
        State.nominate_name: on_name,
    },
    media={
        **dict.fromkeys(FLOW_STATES, FLOW.keep_media),  # kept for the story, then the step is asked again
        State.nominate_story: on_story,
        State.nominate_photos: FLOW.on_photo,
    },
)


async def queue_nomination_message(
    session: AsyncSession,
    catalogs: Catalogs,
    now: datetime,
    nomination: Nomination,
    what: str,
    *,
    title: str = "",
) -> OutboxMessage | None:
    """Tell the nominator, in their language, that their story was published (`what`="published", with
    its `title`) or not used (with the reason); None when they cannot be reached."""
    return await tell(
        session,
        catalogs,
        nomination.citizen_id,
        lambda translator: _outcome(translator, nomination, what, title),
        dedupe_key=f"nomination:{nomination.id}:{what}:{now.isoformat()}",
        now=now,
    )


def _outcome(translator: Translator, nomination: Nomination, what: str, title: str) -> dict:
    """The message about a published story (with a button to the stories) or an unused one."""
    if what == "published":
        text = translator.gettext(PUBLISHED).format(code=nomination.code, title=title)
        button = {"label": translator.gettext(N_("📖 Stories")), "action": StoryShow(str(nomination.story_id)).pack()}
        return {"text": text, "buttons": [[button]]}
    text = translator.gettext(NOT_USED).format(code=nomination.code, reason=nomination.reason or "")
    return {"text": text, "buttons": []}


TRACK_STATUS = {
    "new": N_("received; the commune staff have not read it yet"),
    "checking": N_("being checked with the commune"),
    "published": N_("published as a real story"),
    "not_used": N_("not used this time"),
}


def is_nomination_code(text: str) -> bool:
    """Whether a typed code is a nomination's (GT-…) rather than a report's."""
    folded = fold_symbols(text)
    return (
        folded.startswith(nomination_repo.CODE_PREFIX[:2])
        and len(folded) == len(nomination_repo.CODE_PREFIX) - 1 + CODE_LENGTH
    )


async def track(turn: Turn, typed: str) -> list[Reply]:
    """/tracuu GT-…: where the citizen's own nomination stands."""
    code = nomination_repo.CODE_PREFIX + fold_symbols(typed)[2:]
    nomination = await nomination_repo.by_code(turn.session, id_of(turn.citizen), code)
    if nomination is None:
        return [
            main_menu(turn, turn._("I found no story you sent with the code {code}. Please check the code.", code=code))
        ]
    text = turn._("The story you sent ({code}) is {status}.", code=code, status=turn._(TRACK_STATUS[nomination.status]))
    if nomination.status == "not_used" and nomination.reason:
        text += f"\n{nomination.reason}"
    return [main_menu(turn, text)]
