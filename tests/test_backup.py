"""`python -m bot db backup` and `db restore`, following the steps of docs/deploy.md: a backup taken
while the database is in use, the data lost, the backup restored, the data back."""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from bot.config import Settings
from storage.db import SessionFactory, create_engine, session_factory, sqlite_path
from storage.models import Citizen
from tests.test_staff_cli import run_cli

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


async def add_citizen(sessions: SessionFactory, user_id: str) -> None:
    async with sessions() as session:
        session.add(Citizen(channel="telegram", channel_user_id=user_id, created_at=T0, last_seen_at=T0))
        await session.commit()


async def user_ids(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        return sorted((await session.exec(select(Citizen.channel_user_id))).all())


@pytest.mark.sqlite_only
async def test_a_sqlite_backup_taken_while_in_use_restores_the_data(settings: Settings, sessions: SessionFactory,
                                                                    tmp_path: Path) -> None:
    await add_citizen(sessions, "before-backup")
    database = sqlite_path(settings.database_url)
    assert database is not None
    target = tmp_path / "backups" / "bot-2026-03-02.db"
    # Another connection is in the middle of a write: the backup neither waits for it nor contains it.
    with closing(sqlite3.connect(database)) as busy:
        busy.execute("BEGIN IMMEDIATE")
        busy.execute("INSERT INTO citizen (channel, channel_user_id, household_status, subscribed, created_at, last_seen_at)"
                     " VALUES ('telegram', 'uncommitted', 'unknown', 0, '2026-03-02', '2026-03-02')")
        made = run_cli(settings, "db", "backup", "-o", str(target))
        busy.rollback()
    assert made.returncode == 0, made.stderr
    assert target.is_file() and not list(target.parent.glob(".*partial"))

    await add_citizen(sessions, "after-backup")
    async with sessions() as session:
        for citizen in (await session.exec(select(Citizen).where(Citizen.channel_user_id == "before-backup"))).all():
            await session.delete(citizen)
        await session.commit()
    assert await user_ids(sessions) == ["after-backup"]

    restored = run_cli(settings, "db", "restore", str(target))
    assert restored.returncode == 0, restored.stderr
    fresh = create_engine(settings.database_url)
    try:
        assert await user_ids(session_factory(fresh)) == ["before-backup"]
    finally:
        await fresh.dispose()
    kept = list(database.parent.glob(f"{database.name}.before-restore-*"))
    assert len(kept) == 1
    with closing(sqlite3.connect(kept[0])) as previous:
        assert previous.execute("SELECT channel_user_id FROM citizen").fetchall() == [("after-backup",)]


@pytest.mark.sqlite_only
async def test_a_bad_backup_file_is_refused_and_the_database_left_alone(settings: Settings, sessions: SessionFactory,
                                                                       tmp_path: Path) -> None:
    await add_citizen(sessions, "kept")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).close()
    for bad, message in ((junk, "not a readable SQLite database"), (blank, "not a readable SQLite database"),
                         (tmp_path / "missing.db", "no such backup file")):
        refused = run_cli(settings, "db", "restore", str(bad))
        assert refused.returncode == 1 and message in refused.stderr, (bad, refused.stderr)
    assert await user_ids(sessions) == ["kept"]


@pytest.mark.sqlite_only
def test_a_backup_of_a_database_that_does_not_exist_says_so(settings: Settings, tmp_path: Path) -> None:
    missing = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"})
    result = run_cli(missing, "db", "backup", "-o", str(tmp_path / "b.db"))
    assert result.returncode == 1 and "does not exist yet" in result.stderr
    assert not (tmp_path / "b.db").exists()


async def test_postgres_backup_and_restore_through_pg_dump(settings: Settings, postgres_url: str, tmp_path: Path) -> None:
    on_postgres = settings.model_copy(update={"database_url": postgres_url})
    engine = create_engine(postgres_url)
    sessions = session_factory(engine)
    try:
        await add_citizen(sessions, "before-backup")
        target = tmp_path / "bot.dump"
        made = run_cli(on_postgres, "db", "backup", "-o", str(target))
        if made.returncode != 0 and "pg_dump was not found" in made.stderr:
            pytest.skip("no PostgreSQL client tools here")
        assert made.returncode == 0, made.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600  # tests/test_file_modes.py: a backup is the bot's alone
        password = postgres_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
        assert not password or password not in made.stderr + made.stdout
        await add_citizen(sessions, "after-backup")
        restored = run_cli(on_postgres, "db", "restore", str(target))
        assert restored.returncode == 0, restored.stderr
        await engine.dispose()
        assert await user_ids(sessions) == ["before-backup"]
    finally:
        await engine.dispose()
