"""A whole in-memory channel: drives the real engine and database with no network at all."""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.engine import Engine
from handlers.types import Capabilities, Incoming, Reply


@dataclass
class InMemoryChannel:
    """One citizen talking to the engine; remembers the last replies to press their buttons."""

    engine: Engine
    user_id: str = "1001"
    channel: str = "test"
    display_name: str | None = "Nguyễn Văn A"
    language_hint: str | None = "vi"
    capabilities: Capabilities = field(default_factory=Capabilities)
    last: list[Reply] = field(default_factory=list)

    async def send(self, text: str) -> list[Reply]:
        """Type a text message."""
        return await self._handle(Incoming(self.channel, self.user_id, text=text,
                                           display_name=self.display_name, language_hint=self.language_hint))

    async def act(self, action: str) -> list[Reply]:
        """Send raw button data (even data no button offered)."""
        return await self._handle(Incoming(self.channel, self.user_id, action=action,
                                           display_name=self.display_name, language_hint=self.language_hint))

    async def press(self, label_part: str) -> list[Reply]:
        """Press the button of the last replies whose label contains `label_part`."""
        for reply in reversed(self.last):
            for button in reply.all_buttons():
                if label_part in button.label:
                    return await self.act(button.action)
        raise AssertionError(f"no button with {label_part!r} in {self.labels()}")

    def labels(self) -> list[str]:
        """Labels of every button in the last replies."""
        return [button.label for reply in self.last for button in reply.all_buttons()]

    def text(self) -> str:
        """All texts of the last replies, joined."""
        return "\n".join(reply.text for reply in self.last)

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        self.last = await self.engine.handle(incoming, self.capabilities)
        return self.last
