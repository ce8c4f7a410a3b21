"""A process started on a database that is not at this release's schema (`db upgrade` forgotten, or
a newer release's database) stops at once with one line saying what to do, instead of failing every
request with a missing table or column."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import create_app
from bot.config import Settings
from storage.migrate import SchemaNotCurrent, head, upgrade

ROOT = Path(__file__).resolve().parent.parent


async def start(settings: Settings) -> None:
    """Run the app's start-up (what `python -m bot run` does before it listens) and clean up."""
    runner = web.AppRunner(create_app(settings))
    try:
        await runner.setup()
    finally:
        await runner.cleanup()


async def test_a_database_one_revision_behind_stops_the_start_with_what_to_do(settings: Settings, blank_url: str) -> None:
    previous = f"{int(head()) - 1:04d}"
    await asyncio.to_thread(upgrade, blank_url, previous)
    with pytest.raises(SchemaNotCurrent, match=rf"at revision {previous}, this release needs {head()}: .*db upgrade"):
        await start(settings.model_copy(update={"database_url": blank_url}))
    await asyncio.to_thread(upgrade, blank_url)
    await start(settings.model_copy(update={"database_url": blank_url}))  # upgraded: it starts


def test_run_on_a_database_never_upgraded_exits_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "WEB_PORT": str(port),
             "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "the database has no tables yet: run `python -m bot db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr
