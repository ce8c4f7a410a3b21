"""What the benches that run the bot as its own process share: free loopback ports, SQLite URLs, and
a child process whose output goes to a log file."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a file."""
    return f"sqlite+aiosqlite:///{path}"


def free_port() -> int:
    """A TCP port on loopback that nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LoggedProcess:
    """A child process, its stdout and stderr written to the file `log`."""

    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        """Start it with no input."""
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)

    async def terminate(self, timeout: float) -> float | None:
        """SIGTERM the running process, then SIGKILL it if it has not exited within `timeout` seconds;
        the seconds it took to exit, or None when it had to be killed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        while self.proc.poll() is None and time.monotonic() - sent < timeout:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.kill_now()
            return None
        return time.monotonic() - sent

    def kill_now(self) -> None:
        """Last resort: SIGKILL it if it still runs, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def tail(self, lines: int) -> str:
        """The last `lines` lines of its output."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"
