"""What the fake platforms share: an aiohttp app served on 127.0.0.1 at an ephemeral port, used with
`async with`, and an event that says the record of what the bot did has grown."""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Base of a fake platform: subclasses give the app (`_app`) and set `_changed` when they record a call."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _app(self) -> web.Application:
        """The routes of the fake."""
        raise NotImplementedError

    def _let_go(self) -> None:
        """Let go of calls held back, before the server stops (none by default)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Serve on loopback."""
        self._runner = web.AppRunner(self._app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop serving (held calls are let go first)."""
        self._let_go()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _next_change(self, timeout: float) -> None:
        """Wait at most `timeout` seconds for a call to be recorded."""
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass
