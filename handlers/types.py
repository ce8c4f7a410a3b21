"""The neutral message types every channel adapter converts to and from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    """A file the citizen sent (photo, voice, document). The adapter downloads what it accepts
    into the data folder (`path`, relative to it) or says why not (`problem`: "too_large", "type")."""

    kind: str
    file_id: str
    mime_type: str | None = None
    size: int | None = None
    path: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Location:
    """A point the citizen shared."""

    latitude: float
    longitude: float


@dataclass(frozen=True)
class Incoming:
    """One thing a citizen did: typed text, pressed a button, sent media or a location."""

    channel: str
    user_id: str
    text: str | None = None
    action: str | None = None
    display_name: str | None = None
    language_hint: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    message_id: str | None = None
    # A keyed hash of the client's network address, from channels where one client can be many
    # citizens (the web chat): per-address limits count it. None elsewhere.
    origin: str | None = None
    fetch: Callable[[tuple[Attachment, ...]], Awaitable[tuple[Attachment, ...]]] | None = field(
        default=None, compare=False, repr=False
    )


@dataclass(frozen=True)
class Button:
    """A choice under a reply; `action` comes back as `Incoming.action` when pressed. `keys` are
    short answers a person may type instead (normalised, e.g. `handlers.words.YES`); the label and
    its number always work too."""

    label: str
    action: str
    keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reply:
    """One message to show the citizen: text, optional rows of buttons, optional image."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    image: str | None = None

    def all_buttons(self) -> list[Button]:
        """The buttons in reading order."""
        return [button for row in self.buttons for button in row]


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show; handlers' replies degrade to fit."""

    buttons: bool = True
    max_text: int = 4096
    images: bool = True
