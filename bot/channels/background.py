"""Stopping the tasks a channel runs beside its requests (pollers, sweepers, token keepers, handlers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a task and wait until it has stopped (nothing to do without one)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def finish(tasks: Collection[asyncio.Task[None]], grace: float) -> None:
    """Let the tasks finish within `grace` seconds, then cancel the others and wait until they have stopped."""
    if tasks:
        _finished, pending = await asyncio.wait(set(tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
