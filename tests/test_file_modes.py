"""Files only the bot's own account can read, whatever the umask: the data folder 0700, the SQLite
database with its -wal and -shm files 0600, media citizens send 0600 in 0700 folders, and the files
`db backup` and `db restore` write 0600."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import create_app
from bot.config import Settings
from storage.db import sqlite_path
from storage.files import write_private
from storage.migrate import upgrade
from tests.test_staff_cli import run_cli
from tests.test_webchat_media import WEBM, files, kept_files, png, start_report, upload


@pytest.fixture(autouse=True)
def server_umask() -> Iterator[None]:
    """The umask most servers run with: files 0644, folders 0755 unless the code says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sqlite_files(database: Path) -> list[Path]:
    return [path for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm"))
            if path.exists()]


@pytest.mark.sqlite_only
async def test_the_data_folder_database_and_photos_are_private(settings: Settings, aiohttp_client) -> None:
    database = sqlite_path(settings.database_url)
    assert database is not None
    os.chmod(settings.data_dir, 0o755)  # as an older release left them
    os.chmod(database, 0o644)
    client = await aiohttp_client(create_app(settings))
    await start_report(client)
    for form in (files("voice", WEBM), files("photo", png())):
        status, answer = await upload(client, form)
        assert status == 200, answer

    assert mode(settings.data_dir) == 0o700
    assert len(sqlite_files(database)) == 3  # WAL mode: the -wal and -shm files exist while it runs
    assert {path.name: mode(path) for path in sqlite_files(database)} == {path.name: 0o600 for path in sqlite_files(database)}
    kept = kept_files(settings)
    assert len(kept) == 2 and {mode(path) for path in kept} == {0o600}  # the voice message and the photo, taken by the report
    folders = [path for path in (settings.data_dir / "media").rglob("*") if path.is_dir()]
    assert {mode(path) for path in [settings.data_dir / "media", *folders]} == {0o700}


@pytest.mark.sqlite_only
async def test_a_new_database_is_private_from_its_first_byte(tmp_path: Path) -> None:
    database = tmp_path / "srv" / "data" / "bot.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{database}")
    assert mode(database.parent) == mode(database.parent.parent) == 0o700
    assert {mode(path) for path in sqlite_files(database)} == {0o600}


def test_written_files_are_private_even_over_an_older_file(tmp_path: Path) -> None:
    target = tmp_path / "media" / "2026" / "12" / "photo.jpg"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_private(target, b"\xff\xd8\xff new")
    assert mode(target) == 0o600 and target.read_bytes() == b"\xff\xd8\xff new"
    write_private(tmp_path / "new" / "photo.png", b"\x89PNG")
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "photo.png") == 0o600


@pytest.mark.sqlite_only
async def test_backups_and_restored_databases_are_private(settings: Settings, tmp_path: Path) -> None:
    database = sqlite_path(settings.database_url)
    assert database is not None
    os.chmod(database, 0o644)
    target = tmp_path / "backups" / "bot.db"
    made = run_cli(settings, "db", "backup", "-o", str(target))
    assert made.returncode == 0, made.stderr
    assert mode(target) == 0o600 and mode(target.parent) == 0o700
    os.chmod(database, 0o644)
    restored = run_cli(settings, "db", "restore", str(target))
    assert restored.returncode == 0, restored.stderr
    kept = list(database.parent.glob(f"{database.name}.before-restore-*"))
    assert len(kept) == 1 and mode(kept[0]) == 0o600
    assert {mode(path) for path in sqlite_files(database)} == {0o600}
    database.unlink()  # restoring where there is no database yet
    for side in sqlite_files(database):
        side.unlink()
    assert run_cli(settings, "db", "restore", str(target)).returncode == 0
    assert mode(database) == 0o600
