"""UI language: gettext catalogs kept as `.po` under `content/locale`, compiled in memory at start-up.

Source strings (msgids) are English; the Vietnamese catalog must translate every one of them
(a test checks it). Dates and numbers are formatted with Babel in the configured time zone.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SUPPORTED = ("vi", "en")
SOURCE_LOCALE = "en"
DATE_PATTERNS = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}
DATETIME_PATTERNS = {"vi": "HH:mm dd/MM/yyyy", "en": "d MMM yyyy, HH:mm"}


def N_(message: str) -> str:
    """Mark a string for translation without translating it now (translated when shown)."""
    return message


def resolve_locale(*candidates: str | None, default: str = "vi") -> str:
    """The first supported locale among the candidates ("en-US" → "en"), else the default."""
    for candidate in candidates:
        if not candidate:
            continue
        try:
            language = Locale.parse(candidate.replace("-", "_")).language
        except (UnknownLocaleError, ValueError, TypeError):
            continue
        if language in SUPPORTED:
            return language
    return default if default in SUPPORTED else SUPPORTED[0]


def read_catalog(locale: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    """Parse the `.po` catalog of a locale."""
    with (locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> Translations:
    """Compile a catalog to gettext translations in memory (no generated `.mo` files on disk)."""
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@dataclass(frozen=True)
class Translator:
    """Translations and formatting for one locale."""

    locale: str
    translations: gettext.NullTranslations
    tz: ZoneInfo

    def gettext(self, message: str) -> str:
        """Translate a message."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Translate a message with a count."""
        return self.translations.ngettext(singular, plural, n)

    def format_datetime(self, value: datetime) -> str:
        """A date and time in the local zone ("14:05 28/11/2026")."""
        return format_datetime(value, DATETIME_PATTERNS[self.locale], tzinfo=self.tz, locale=self.locale)

    def format_date(self, value: datetime) -> str:
        """A date in the local zone ("31/12/2026")."""
        return self.format_day(value.astimezone(self.tz).date())

    def format_day(self, value: date) -> str:
        """A calendar date ("31/12/2026")."""
        return format_date(value, DATE_PATTERNS[self.locale], locale=self.locale)

    def format_money(self, amount: float) -> str:
        """An amount of đồng: "1.500.000 đ" in Vietnamese, "1,500,000 VND" in English."""
        number = format_decimal(amount, locale=self.locale)
        return f"{number} đ" if self.locale == "vi" else f"{number} VND"

    def format_number(self, value: float) -> str:
        """A number with the locale's grouping ("1.500.000" in Vietnamese)."""
        return format_decimal(value, locale=self.locale)


class Catalogs:
    """Translators for every supported locale, built once."""

    def __init__(self, tz: ZoneInfo, default_locale: str = "vi", locale_dir: Path = LOCALE_DIR) -> None:
        self.default_locale = default_locale
        self._translators: Mapping[str, Translator] = {
            locale: Translator(locale, self._translations(locale, locale_dir), tz) for locale in SUPPORTED
        }

    @staticmethod
    def _translations(locale: str, locale_dir: Path) -> gettext.NullTranslations:
        if locale == SOURCE_LOCALE:
            return gettext.NullTranslations()
        return compile_catalog(read_catalog(locale, locale_dir))

    def get(self, *candidates: str | None) -> Translator:
        """The translator for the first supported candidate locale, else the default."""
        return self._translators[resolve_locale(*candidates, default=self.default_locale)]
