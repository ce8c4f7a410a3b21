"""Photos of the data folder sent to a platform that keeps them: uploaded once per process, then
sent by the id the platform gave them (Telegram's file ids, Zalo OA's attachment ids)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path


def data_file(data_dir: Path, relative: str) -> Path | None:
    """The file `relative` names inside the data folder, or None when it is outside it or no file."""
    root = data_dir.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


class Uploads:
    """The platform's id of each uploaded file. One upload at a time per file: whoever asks while it
    is being uploaded waits for it and gets its id. An id older than `max_age`, or the one the
    platform said it no longer knows, is replaced by a new upload."""

    def __init__(self, clock: Callable[[], datetime], max_age: timedelta | None = None) -> None:
        self.clock = clock
        self.max_age = max_age
        self._known: dict[str, tuple[str, datetime]] = {}  # file -> (id, uploaded at)
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(
        self, name: str, upload: Callable[[], Awaitable[str | None]], *, expired: str | None = None
    ) -> str | None:
        """The id of the file `name`, made by `upload()` when it is not known (or too old, or
        `expired`); None, and nothing kept, when `upload` gives none."""
        async with self._locks.setdefault(name, asyncio.Lock()):
            known = self._known.get(name)
            if (
                known is None
                or known[0] == expired
                or (self.max_age is not None and self.clock() - known[1] >= self.max_age)
            ):
                made = await upload()
                if made is None:
                    return None
                self._known[name] = (made, self.clock())
            return self._known[name][0]
