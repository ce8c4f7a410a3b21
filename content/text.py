"""Vietnamese text normalisation shared by search and matching."""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NON_WORD = re.compile(r"[^\w]+")
_SPACES = re.compile(r"\s+")


def clean_input(text: str) -> str:
    """NFC, without zero-width and control characters (newlines kept), trimmed."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    return _CONTROL.sub("", text).strip()


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese tone and vowel marks, đ → d ("Đắk Lắk" → "Dak Lak")."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """Lower-case, diacritics removed, punctuation to spaces, spaces collapsed: a matching key."""
    folded = strip_diacritics(unicodedata.normalize("NFC", text).casefold())
    return _SPACES.sub(" ", _NON_WORD.sub(" ", folded.replace("_", " "))).strip()
