"""Files only the bot's own account may read: the data folder (0700), the SQLite database with its
-wal and -shm files, media citizens send, backups and exports (0600). Other accounts on the server
see nothing, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create `path` (and missing parents) as 0700 folders. An existing folder is left as it is, unless
    `tighten` (DATA_DIR, the bot's own folder: an older install's 0755 becomes 0700)."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is reduced by the umask, never widened
    if tighten and path not in missing:
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists and is 0600 (created empty if missing), before anything writes it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a 0600 file (its folder a 0700 one), never readable by others even for a moment."""
    private_dir(path.parent)
    with open_private(path) as out:
        out.write(data)


def open_private(path: Path):
    """A new or truncated 0600 file, open for binary writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return os.fdopen(fd, "wb")


def private_sqlite(path: Path) -> None:
    """A SQLite database file and the files SQLite keeps beside it as 0600, in a 0700 folder; SQLite
    creates its -wal and -shm files with the database file's mode.

    An existing database is only chmod-ed, never opened: closing any descriptor of a file drops every
    POSIX lock this process holds on it, and SQLite's locks belong to the connections already open
    (another engine of the same process would lose its read snapshot or its write lock)."""
    private_dir(path.parent)
    if path.exists():
        os.chmod(path, PRIVATE_FILE)
    else:
        private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, PRIVATE_FILE)
