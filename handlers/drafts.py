"""Steps the report-like flows (feedback, nominations) share: the draft kept in the conversation,
the files and text sent for it, the commune, name or anonymous, and the summary. Each flow describes
itself once as a `Flow` (its states, button actions and texts); the shared steps are its methods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from content.areas import CommuneMatch
from handlers.actions import AreaChoice, IdentityChoice, Payload
from handlers.profile import area_label
from handlers.router import ask_again
from handlers.states import State
from handlers.turn import NotThisStep, StaleAction, Turn
from handlers.types import Attachment, Button, Reply
from handlers.words import ANONYMOUS, CANCEL, DONE, NAMED, NO, SEND, SKIP, YES

Rows = tuple[tuple[Button, ...], ...]
MAX_BODY = 4000  # characters of a draft's text
MAX_NAME = 100  # characters of the sender's name
CLOSE_NAME = 90  # a typed commune name this close to a real one is offered as "did you mean"


def draft(turn: Turn) -> dict:
    """The draft being written, or a stale button when the flow has ended."""
    found = turn.data.get("draft")
    if not isinstance(found, dict):
        raise StaleAction
    return found


def goto(turn: Turn, state: State, new: dict) -> None:
    """Enter a step with the draft, still editing when the summary sent the citizen back."""
    turn.goto(state, draft=new, **({"editing": True} if turn.data.get("editing") else {}))


def add_text(found: dict, text: str) -> dict:
    """The draft with more typed text added to its message."""
    body = found.get("body", "")
    return {**found, "body": (f"{body}\n{text}" if body else text)[:MAX_BODY]}


def file_problem(turn: Turn, attachment: Attachment) -> str:
    """Why a file sent for a draft was not kept."""
    if attachment.problem == "too_large":
        return turn._("This file is too large. Please send a smaller photo (under 10 MB).")
    return turn._("I can only keep photos (JPEG, PNG) and voice messages. This file was not saved.")


def stored_file(attachment: Attachment, default_mime: str) -> dict:
    """A kept photo or voice message as the draft holds it."""
    return {"path": attachment.path, "mime": attachment.mime_type or default_mime, "size": attachment.size or 0}


def sender_line(turn: Turn, found: dict) -> str:
    """The summary's line saying who sends the draft."""
    if found.get("anonymous"):
        return turn._("Sender: anonymous")
    return turn._("Sender: {name}", name=found.get("name") or "—")


class Steps(NamedTuple):
    """The steps of a flow that the shared steps enter."""

    body: State  # asks for the text (or a voice message)
    photos: State
    area: State
    name: State  # asks the name to show


@dataclass(frozen=True)
class Flow:
    """One report-like flow as the shared steps see it; its async methods taking only the turn are
    route handlers (`FLOW.on_area`). Its texts are marked with N_ and translated when shown."""

    steps: Steps
    ask_body: Callable[[Turn], Reply]
    after_area: Callable[[Turn, dict], list[Reply]]  # the flow's next step once the commune is known
    confirm: Callable[[Turn, dict], list[Reply]]  # the summary
    cancel: Payload
    photos_done: Payload
    area_choice: type[AreaChoice]
    identity_choice: type[IdentityChoice]
    submit: Payload
    edit_body: Payload  # the summary's two ways back, values of one payload class
    edit_area: Payload
    edit_body_label: str
    area_question: str  # "… {commune}?"
    commune_question: str
    photo_invite: str
    text_added: str
    max_photos: int
    too_many_photos: str  # "… {count} photos …"
    voice_kept: str
    photos_kept: str  # "… {count} photo(s) …"
    location_kept: str | None = None  # None: the flow takes no location

    def cancel_row(self, turn: Turn) -> tuple[Button, ...]:
        """The "✖ Cancel" row."""
        return (Button(turn._("✖ Cancel"), self.cancel.pack(), CANCEL),)

    async def kept(self, turn: Turn, found: dict) -> tuple[dict, list[str]]:
        """`found` with this message's photos, voice message and (where the flow takes one) location
        added; what was kept or refused."""
        found = dict(found)
        photos = list(found.get("photos", []))
        notes: list[str] = []
        attachments: tuple[Attachment, ...] = await turn.media() if turn.incoming.attachments else ()
        for attachment in attachments:
            if attachment.problem:
                notes.append(file_problem(turn, attachment))
            elif attachment.kind == "photo" and attachment.path:
                if len(photos) < self.max_photos:
                    photos.append(stored_file(attachment, "image/jpeg"))
                else:
                    notes.append(turn._(self.too_many_photos, count=self.max_photos))
            elif attachment.kind in ("voice", "audio") and attachment.path:
                found["voice"] = stored_file(attachment, "")
                found.setdefault("body", turn._("(voice message)"))
                notes.append(turn._(self.voice_kept))
        if len(photos) > len(found.get("photos", [])):
            notes.append(turn._(self.photos_kept, count=len(photos)))
        found["photos"] = photos
        if self.location_kept is not None and turn.incoming.location is not None:
            found["location"] = [turn.incoming.location.latitude, turn.incoming.location.longitude]
            notes.append(turn._(self.location_kept))
        return found, notes

    async def keep_media(self, turn: Turn) -> list[Reply]:
        """Media sent at a step that asks something else: the draft keeps it, then the step is asked again."""
        kept, notes = await self.kept(turn, draft(turn))
        turn.data["draft"] = kept
        return [ask_again(turn, "\n".join([*notes, turn._("Tap a choice or type its number:")]))]

    def body_again(self, turn: Turn, before: dict, found: dict, replies: Sequence[Reply]) -> list[Reply]:
        """Stay at the text step (the text given before still kept) with `replies`."""
        goto(turn, self.steps.body, {**found, **({"body": before["body"]} if "body" in before else {})})
        return list(replies)

    def after_body(self, turn: Turn, found: dict, notes: Sequence[str]) -> list[Reply]:
        """The text is there: back to the summary when editing, else invite photos."""
        if turn.data.get("editing"):
            return self.confirm(turn, found)
        goto(turn, self.steps.photos, found)
        return [*(Reply(note) for note in notes), self.ask_photos(turn, found)]

    def ask_photos(self, turn: Turn, found: dict) -> Reply:
        """Invite photos, with a button to go on."""
        count = len(found.get("photos", []))
        text = (
            turn._("Received {count} photo(s). Send more, or press “Done”.", count=count)
            if count
            else turn._(self.photo_invite)
        )
        label = turn._("✅ Done") if count else turn._("Skip")
        return Reply(text, buttons=((Button(label, self.photos_done.pack(), DONE | SKIP | NO),), self.cancel_row(turn)))

    async def on_photo(self, turn: Turn) -> list[Reply]:
        """A photo, more text, or what else the flow keeps, while photos are invited."""
        found, notes = await self.kept(turn, draft(turn))
        if turn.text:
            found = add_text(found, turn.text)
            notes.append(turn._(self.text_added))
        goto(turn, self.steps.photos, found)
        return [*(Reply(note) for note in notes), self.ask_photos(turn, found)]

    def ask_area(self, turn: Turn, found: dict) -> list[Reply]:
        """Enter the commune step: confirm the draft's commune, or ask its name when it has none."""
        goto(turn, self.steps.area, found)
        area = found.get("area")
        if not area:
            return [self.ask_commune(turn)]
        rows = (
            (Button(turn._("✅ Yes, {commune}", commune=area_label(turn, area)), self.area_choice(area).pack(), YES),),
            (
                Button(
                    turn._("Choose another commune"),
                    self.area_choice("other").pack(),
                    NO | frozenset({"xa khac", "doi xa"}),
                ),
            ),
            self.cancel_row(turn),
        )
        return [Reply(turn._(self.area_question, commune=area_label(turn, area)), buttons=rows)]

    def ask_commune(self, turn: Turn) -> Reply:
        """Ask the commune's name."""
        return Reply(turn._(self.commune_question), buttons=(self.cancel_row(turn),))

    def with_area(self, turn: Turn, found: dict, code: str) -> list[Reply]:
        """The commune is known: back to the summary when editing, else the flow's next step."""
        found = {**found, "area": code}
        return self.confirm(turn, found) if turn.data.get("editing") else self.after_area(turn, found)

    async def on_area(self, turn: Turn) -> list[Reply]:
        """The commune was confirmed or chosen; "another commune" asks its name."""
        found = draft(turn)
        choice = turn.pressed_as(self.area_choice).choice
        if choice == "other":
            goto(turn, self.steps.area, {**found, "area": None})
            return [self.ask_commune(turn)]
        record = turn.services.areas.get(choice)
        if record is None or record.level != "commune":
            raise StaleAction
        return self.with_area(turn, found, record.code)

    async def on_area_text(self, turn: Turn) -> list[Reply]:
        """A typed commune name: chosen when it names one commune, else "did you mean" or "not
        found"; while a commune is being confirmed, words that name none are asked again."""
        found = draft(turn)
        matches = turn.services.areas.match_commune(turn.text, limit=5)
        if len(matches) == 1 and matches[0].score >= 100:
            return self.with_area(turn, found, matches[0].area.code)
        if found.get("area") and not any(match.score >= CLOSE_NAME for match in matches):
            raise NotThisStep
        if not matches:
            name = turn.text[:60]
            text = turn._("I could not find a commune called “{name}”. Please type the name again.", name=name)
            return [Reply(text, buttons=(self.cancel_row(turn),))]
        goto(turn, self.steps.area, found)
        return [self.did_you_mean(turn, matches)]

    def did_you_mean(self, turn: Turn, matches: Sequence[CommuneMatch]) -> Reply:
        """The communes a typed name may mean, as buttons."""
        keys = YES if len(matches) == 1 else frozenset()
        return Reply(
            turn._("Did you mean one of these?"),
            buttons=(
                *((Button(m.area.label, self.area_choice(m.area.code).pack(), keys),) for m in matches),
                self.cancel_row(turn),
            ),
        )

    def identity_rows(self, turn: Turn) -> Rows:
        """ "Show my name (…)" / "Send anonymously"."""
        name = turn.incoming.display_name or turn.citizen.display_name
        return (
            (
                Button(
                    turn._("👤 Show my name ({name})", name=name) if name else turn._("👤 Show my name"),
                    self.identity_choice("named").pack(),
                    NAMED | YES,
                ),
            ),
            (Button(turn._("🕶 Send anonymously"), self.identity_choice("anonymous").pack(), ANONYMOUS | NO),),
            self.cancel_row(turn),
        )

    def ask_name(self, turn: Turn, found: dict) -> list[Reply]:
        """Ask the name the staff should see."""
        goto(turn, self.steps.name, found)
        return [Reply(turn._("What name should the staff see? Please type it."), buttons=(self.cancel_row(turn),))]

    def name_again(self, turn: Turn) -> Reply:
        """The typed text is not a name."""
        return Reply(
            turn._("Please type just your name (for example: Nguyễn Văn A), or press “Cancel”."),
            buttons=(self.cancel_row(turn),),
        )

    def named(self, turn: Turn) -> list[Reply]:
        """The summary, sent with the typed name."""
        return self.confirm(turn, {**draft(turn), "anonymous": False, "name": turn.text.strip()[:MAX_NAME]})

    def summary(self, turn: Turn, lines: Sequence[str]) -> list[Reply]:
        """The summary's `lines` with Send / edit the text / change commune / cancel under them."""
        edit_body = Button(
            turn._(self.edit_body_label), self.edit_body.pack(), frozenset({"sua", "sua noi dung", "viet lai"})
        )
        edit_area = Button(
            turn._("✏️ Change commune"), self.edit_area.pack(), frozenset({"doi xa", "xa khac", "sua xa"})
        )
        rows = ((Button(turn._("📨 Send"), self.submit.pack(), SEND | YES | DONE),), (edit_body, edit_area))
        return [Reply("\n".join(lines), buttons=(*rows, self.cancel_row(turn)))]

    async def on_edit(self, turn: Turn) -> list[Reply]:
        """Go back to one step from the summary, then straight back to the summary."""
        found = draft(turn)
        pressed = turn.pressed_as(type(self.edit_body))
        if pressed == self.edit_body:
            turn.goto(self.steps.body, draft=found, editing=True)
            return [self.ask_body(turn)]
        if pressed == self.edit_area:
            turn.goto(self.steps.area, draft={**found, "area": None}, editing=True)
            return [self.ask_commune(turn)]
        raise StaleAction
