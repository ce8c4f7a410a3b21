"""The province bench runs end to end on a tiny province: it generates every kind of row, every page
answers 200 on the empty and the filled database, and it prints a row for each measure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import on_postgres

ROOT = Path(__file__).resolve().parent.parent


def test_the_province_bench_generates_and_times_every_page_of_a_tiny_province(request) -> None:  # type: ignore[no-untyped-def]
    """On the suite's database: SQLite, or the PostgreSQL server of TEST_POSTGRES_URL."""
    server = ["--postgres", request.getfixturevalue("postgres_server")] if on_postgres() else []
    done = subprocess.run([sys.executable, "bench/province.py", "--scale", "0.002", "--report-limit", "60", *server],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"province bench on {'PostgreSQL' if server else 'SQLite'}:" in output
    generated = dict(re.findall(r"([a-z_ ()]+) ([\d,]+)(?:,|$)", output.split("generated in", 1)[1].splitlines()[0]))
    assert all(int(count.replace(",", "")) > 0 for count in generated.values()), generated
    for measure in ("ticket page", "notices list", "statistics, 12 months", "quiz questions", "public /",
                    "6-monthly report", "annual report", "db backup", "chat turn"):
        assert re.search(rf"^\| {re.escape(measure)} +\| [\d,.]+ m?s \| [\d,.]+ m?s", output, re.MULTILINE) or \
            re.search(rf"^\| {re.escape(measure)} +\| — \| [\d,.]+ m?s", output, re.MULTILINE), (measure, output)
