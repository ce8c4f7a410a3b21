"""The broadcast bench runs end to end on a small crowd: the bot runs as its own process (its memory is
measured), one message each, nobody twice, nobody missed, and the bot stops on SIGTERM."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180


def value(output: str, label: str) -> int:
    """The number on the table row that starts with `label`."""
    match = re.search(rf"^{re.escape(label)}\s+([\d,]+)", output, re.MULTILINE)
    assert match, f"no row {label!r} in:\n{output}"
    return int(match[1].replace(",", ""))


def test_bench_delivers_one_message_to_each_of_200_citizens() -> None:
    done = subprocess.run(
        [sys.executable, "bench/broadcast.py", "--citizens", "200", "--rate", "200", "--timeout", "120"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert value(output, "messages delivered") == 200
    assert value(output, "duplicates (chats messaged twice)") == 0
    assert value(output, "losses (never messaged)") == 0
    assert 0 < value(output, "bot RSS after start-up") <= value(output, "bot peak RSS")
    assert re.search(r"^bot stopped\s+SIGTERM, exit status 0 ", output, re.MULTILINE), output
    assert "result: OK" in output
