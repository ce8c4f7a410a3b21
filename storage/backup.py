"""Database backups: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore.

Backups and restored databases are 0600 files (storage/files.py). A SQLite backup is a consistent
copy taken while the bot runs (other connections keep reading and writing), written by `VACUUM
INTO`: the copy holds only what the database keeps, packed, so that once the retention rules have
emptied old rows (storage/prune.py) the backup shrinks with them, where a page-by-page copy would
carry every half-empty and free page of the file. It is checked (`PRAGMA integrity_check`, a schema
revision present) before it replaces the target file, so a half-written backup never looks like a
good one. A restore copies a checked backup into the database file through SQLite's online backup
API, after keeping the current file beside it: the restored file is as compact as the backup."""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess  # nosec B404  # runs pg_dump / pg_restore with an argument list, never a shell
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import sqlite_path
from storage.files import private_dir, private_file, private_sqlite

PAGES_PER_STEP = 1024


class BackupError(Exception):
    """A backup or restore could not be made; the message says why and what to do."""


def backup(database_url: str, target: Path) -> str:
    """Write a backup of the database to `target`; a line saying what was written."""
    path = sqlite_path(database_url)
    if path is not None:
        return _backup_sqlite(path, target)
    if make_url(database_url).drivername.startswith("postgresql"):
        return _backup_postgres(database_url, target)
    raise BackupError(f"backups are made for SQLite and PostgreSQL only, not {make_url(database_url).drivername}")


def restore(database_url: str, source: Path, *, now: datetime | None = None) -> str:
    """Replace the database's content with a backup; a line saying what was done."""
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    path = sqlite_path(database_url)
    if path is not None:
        return _restore_sqlite(source, path, now or datetime.now(UTC))
    if make_url(database_url).drivername.startswith("postgresql"):
        return _restore_postgres(database_url, source)
    raise BackupError(f"restores are made for SQLite and PostgreSQL only, not {make_url(database_url).drivername}")


def check_sqlite(path: Path) -> str:
    """The schema revision of a SQLite file that passes the integrity check."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()
            if not verdict or verdict[0] != "ok":
                raise BackupError(f"{path}: the integrity check failed ({verdict[0] if verdict else 'no answer'})")
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database of this bot ({exc})") from None
    if not revision:
        raise BackupError(f"{path}: no schema revision (was `python -m bot db upgrade` ever run?)")
    return str(revision[0])


def _backup_sqlite(path: Path, target: Path) -> str:
    if not path.is_file():
        raise BackupError(f"{path}: the database file does not exist yet (run `python -m bot db upgrade`)")
    private_dir(target.parent)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    private_file(partial)  # 0600 from the start: a backup holds everything the database does
    try:
        with closing(sqlite3.connect(path, timeout=30)) as live:
            # One read transaction (WAL: writers go on meanwhile); the copy is packed, and journal_mode
            # DELETE makes it one self-contained file.
            live.execute("VACUUM INTO ?", (str(partial),))
        with closing(sqlite3.connect(partial)) as copy:
            copy.execute("PRAGMA journal_mode=DELETE")
        revision = check_sqlite(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return f"backup of {path} (schema {revision}) written to {target} ({target.stat().st_size:,} bytes)"


def _restore_sqlite(source: Path, path: Path, now: datetime) -> str:
    revision = check_sqlite(source)
    kept = ""
    if path.is_file():
        previous = path.with_name(f"{path.name}.before-restore-{now:%Y%m%d-%H%M%S}")
        _backup_sqlite(path, previous)
        kept = f"; the previous database is kept as {previous}"
    private_sqlite(path)
    with closing(sqlite3.connect(source)) as backup_file, closing(sqlite3.connect(path, timeout=30)) as live:
        backup_file.backup(live, pages=PAGES_PER_STEP)
    private_sqlite(path)  # and the -wal and -shm files the restore may have made
    return f"{path} restored from {source} (schema {revision}){kept}"


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL as pg_dump takes it (no driver part, no password) and the environment carrying the
    password, so that it never shows in the process list."""
    url = make_url(database_url)
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), environment


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise BackupError(
            f"{name} was not found: install the PostgreSQL client (Debian: apt install postgresql-client), "
            f"or back up with your own tools (docs/deploy.md)"
        )
    return found


def _backup_postgres(database_url: str, target: Path) -> str:
    private_dir(target.parent)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    private_file(partial)  # pg_dump writes into it and keeps its mode
    url, environment = _libpq(database_url)
    command = [
        _pg_tool("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--file",
        str(partial),
        "--dbname",
        url,
    ]
    try:
        _run(command, environment)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    size = target.stat().st_size
    return f"backup of PostgreSQL database {make_url(database_url).database} written to {target} ({size:,} bytes)"


def _restore_postgres(database_url: str, source: Path) -> str:
    url, environment = _libpq(database_url)
    command = [
        _pg_tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--dbname",
        url,
        str(source),
    ]
    _run(command, environment)
    return f"PostgreSQL database {make_url(database_url).database} restored from {source}"


def _run(command: list[str], environment: dict[str, str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)  # nosec B603  # fixed tool, argument list
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()[:2000]}")
