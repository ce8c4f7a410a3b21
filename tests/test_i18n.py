"""Language: every user-visible string has a Vietnamese translation; locale resolution falls back."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

from content.i18n import Catalogs, read_catalog, resolve_locale

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def extracted_messages() -> set[str]:
    """Every msgid marked in code and templates, extracted the way `make i18n` does."""
    method_map = [("handlers/**.py", "python"), ("bot/**.py", "python"), ("content/**.py", "python"),
                  ("bot/templates/**.html", "jinja2")]
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map={"bot/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=KEYWORDS,
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_extraction_finds_the_ui_strings() -> None:
    messages = extracted_messages()
    assert len(messages) > 80
    assert "Which language do you prefer?" in messages
    assert "Type your message" in messages


def test_every_user_visible_string_has_a_vietnamese_translation() -> None:
    catalog = read_catalog("vi")
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(m for m in extracted_messages() if not translated.get(m))
    assert missing == [], f"add these to content/locale/vi/LC_MESSAGES/messages.po (make i18n): {missing}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == []


def test_catalog_has_no_stale_entries_and_placeholders_match() -> None:
    catalog = read_catalog("vi")
    extracted = extracted_messages()
    stale = sorted(m.id for m in catalog if m.id and m.id not in extracted)
    assert stale == [], f"remove from the catalog: {stale}"
    for message in catalog:
        if message.id:
            assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), message.id


def test_vietnamese_texts_keep_their_diacritics() -> None:
    catalog = read_catalog("vi")
    long_texts = [m.string for m in catalog if m.id and len(m.string) > 40]
    assert all(re.search(r"[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", t) for t in long_texts)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (("en",), "en"),
        (("en-US",), "en"),
        (("en_GB",), "en"),
        (("vi-VN",), "vi"),
        (("fr",), "vi"),
        ((None, "en"), "en"),
        (("", None), "vi"),
        (("zz-invalid!!",), "vi"),
        (("fr", "en"), "en"),
    ],
)
def test_locale_resolution_falls_back_to_the_default(candidates: tuple, expected: str) -> None:
    assert resolve_locale(*candidates, default="vi") == expected


def test_default_locale_can_be_english() -> None:
    assert resolve_locale("fr", default="en") == "en"
    assert Catalogs(ZoneInfo("Asia/Ho_Chi_Minh"), "en").get(None).locale == "en"


def test_translator_formats_numbers_and_dates_in_vietnamese() -> None:
    from datetime import UTC, datetime

    translator = Catalogs(ZoneInfo("Asia/Ho_Chi_Minh")).get("vi")
    assert translator.format_number(1500000) == "1.500.000"
    assert translator.format_date(datetime(2026, 12, 31, 20, 0, tzinfo=UTC)) == "01/01/2027"
    assert translator.gettext("Send") == "Gửi"
    assert Catalogs(ZoneInfo("Asia/Ho_Chi_Minh")).get("en").gettext("Send") == "Send"


def test_translator_formats_date_times_in_the_local_zone() -> None:
    from datetime import UTC, datetime

    catalogs = Catalogs(ZoneInfo("Asia/Ho_Chi_Minh"))
    moment = datetime(2026, 11, 28, 7, 5, tzinfo=UTC)
    assert catalogs.get("vi").format_datetime(moment) == "14:05 28/11/2026"
    assert catalogs.get("en").format_datetime(moment) == "28 Nov 2026, 14:05"


def test_money_is_formatted_the_vietnamese_way() -> None:
    catalogs = Catalogs(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert catalogs.get("vi").format_money(1_500_000) == "1.500.000 đ"
    assert catalogs.get("en").format_money(2_200_000) == "2,200,000 VND"
