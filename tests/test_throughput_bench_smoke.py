"""The benches run end to end on a tiny load. The throughput bench, in both set-ups (the full bot and
the echo bot in this process by long polling, and one real `python -m bot run --role web` process and
one echo process behind webhooks): every update is answered as expected and the summary table is
printed. The Bot API client bench: both clients are timed and their ratio printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240


def test_bench_prints_a_ratio_for_polling_and_webhook_on_sqlite() -> None:
    done = subprocess.run(
        [sys.executable, "bench/throughput.py", "--updates", "24", "--users", "4", "--rounds", "1",
         "--backends", "sqlite", "--processes", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for setup in ("polling sqlite x1", "webhook sqlite x1"):
        runs = re.findall(rf"^{setup}\s+1\s+(echo|full)\s+24\s", output, re.MULTILINE)
        assert sorted(runs) == ["echo", "full"], output
        summary = re.search(rf"^{setup}\s+1\s+\d+\s+\d+\s+(\d+\.\d\d)\s", output, re.MULTILINE)
        assert summary and float(summary[1]) > 0, output
    assert "problems    none" in output
    assert "log records at WARNING or above: none" in output


def test_bot_api_client_bench_prints_both_clients_and_their_ratio() -> None:
    done = subprocess.run(
        [sys.executable, "bench/telegram_http.py", "--calls", "40", "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^httpx\s+median \d+\.\d{3} ms", output, re.MULTILINE), output
    assert re.search(r"^aiohttp\s+median \d+\.\d{3} ms", output, re.MULTILINE), output
    assert re.search(r"^ratio aiohttp / httpx: \d+\.\d\d$", output, re.MULTILINE), output
