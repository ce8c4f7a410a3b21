"""docs/security.md: the threat model and how to report a vulnerability, linked from the README,
naming only files and settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"


def test_the_security_page_is_linked_and_has_its_parts() -> None:
    text = DOC.read_text()
    assert "(docs/security.md)" in (ROOT / "README.md").read_text()
    for heading in ("## Threat model", "## Not covered yet", "## Reporting a vulnerability"):
        assert heading in text
    rows = [line for line in text.split("## Threat model")[1].split("\n## ")[0].splitlines() if line.startswith("| ")]
    assert len(rows) >= 10 and all(line.count(" | ") >= 2 for line in rows)


def test_the_files_and_settings_it_names_exist() -> None:
    text = DOC.read_text()
    paths = set(re.findall(r"`((?:bot|storage|handlers|content|tests|deploy)/[\w./-]*)`", text))
    assert paths and [path for path in paths if not (ROOT / path).exists()] == []
    for link in re.findall(r"\]\(([\w.-]+\.md)\)", text):
        assert (DOC.parent / link).exists(), link
    fields = set(Settings.model_fields)
    named = set(re.findall(r"`([A-Z][A-Z_]{3,})`", text)) - {"X-Frame-Options"}
    prefixes = {name.rstrip("*_") for name in re.findall(r"`([A-Z_]+)\*`", text)}
    assert [name for name in named if name.lower() not in fields] == []
    assert all(any(field.startswith(prefix.lower()) for field in fields) for prefix in prefixes)
