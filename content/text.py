"""Vietnamese text normalisation shared by search and matching, and what FAQ search reads in a
question besides its words: the qualifiers it names (household type, area, benefit), its years, and
whether it asks about a rule still to come."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NON_WORD = re.compile(r"[^\w]+")
_SPACES = re.compile(r"\s+")


def clean_input(text: str) -> str:
    """NFC, without zero-width and control characters (newlines kept), trimmed; a lone surrogate
    (JSON may carry one, UTF-8 cannot store it) becomes U+FFFD."""
    text = unicodedata.normalize("NFC", well_formed(text)).translate(_ZERO_WIDTH)
    return _CONTROL.sub("", text).strip()


def well_formed(text: str) -> str:
    """The text with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese tone and vowel marks, đ → d ("Đắk Lắk" → "Dak Lak")."""
    if text.isascii():  # typed without diacritics: nothing to remove
        return text
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """Lower-case, diacritics removed, punctuation to spaces, spaces collapsed: a matching key.
    Short texts (button labels, most messages) are folded once and remembered."""
    return _fold_short(text) if len(text) <= FOLD_KEPT_LENGTH else _fold(text)


def _fold(text: str) -> str:
    folded = strip_diacritics(unicodedata.normalize("NFC", text).casefold())
    return _SPACES.sub(" ", _NON_WORD.sub(" ", folded.replace("_", " "))).strip()


FOLD_KEPT_LENGTH = 100
_fold_short = lru_cache(maxsize=4096)(_fold)


# Teencode and abbreviations, on folded (diacritic-free, lower-case) tokens.
ABBREVIATIONS = {
    "ko": "khong",
    "k": "khong",
    "kh": "khong",
    "hok": "khong",
    "hong": "khong",
    "khg": "khong",
    "kg": "khong",
    "dc": "duoc",
    "dk": "duoc",
    "duoc": "duoc",
    "j": "gi",
    "ji": "gi",
    "bn": "bao nhieu",
    "bnh": "bao nhieu",
    "baonhieu": "bao nhieu",
    "nhiu": "bao nhieu",
    "ntn": "nhu the nao",
    "lsao": "lam sao",
    "lam s": "lam sao",
    "bhyt": "bao hiem y te",
    "bhxh": "bao hiem xa hoi",
    "nhcsxh": "ngan hang chinh sach xa hoi",
    "nhcs": "ngan hang chinh sach",
    "csxh": "chinh sach xa hoi",
    "ubnd": "uy ban nhan dan",
    "mttq": "mat tran to quoc",
    "hdnd": "hoi dong nhan dan",
    "hs": "hoc sinh",
    "sv": "sinh vien",
    "gd": "gia dinh",
    "gdinh": "gia dinh",
    "hcn": "ho can ngheo",
    "hn": "ho ngheo",
    "mn": "moi nguoi",
    "ng": "nguoi",
    "vs": "voi",
    "r": "roi",
    "oy": "roi",
    "z": "vay",
    "v": "vay",
    "mk": "minh",
    "mik": "minh",
    "mjk": "minh",
    "t": "toi",
    "e": "em",
    "ns": "noi",
    "bik": "biet",
    "bit": "biet",
    "wa": "qua",
    "qa": "qua",
    "cx": "cung",
    "cg": "cung",
    "nc": "nuoc",
    "tp": "thanh pho",
    "tx": "thi xa",
    "xa": "xa",
    "dt": "dien thoai",
    "sdt": "so dien thoai",
    "dky": "dang ky",
    "dki": "dang ky",
    "dangky": "dang ky",
    "hdan": "huong dan",
    "thtuc": "thu tuc",
    "tr": "trieu",
    "vnd": "dong",
    "ntno": "nhu the nao",
    "sao": "sao",
    "pk": "phai khong",
    "fai": "phai",
    "ph": "phai",
}
# Politeness particles and forms of address: they carry no topic, so an unknown one costs nothing.
PARTICLES = frozenset(
    {
        "a",
        "ah",
        "ak",
        "oi",
        "nhe",
        "nha",
        "nhen",
        "ne",
        "ha",
        "hen",
        "nhi",
        "the",
        "vay",
        "day",
        "do",
        "voi",
        "em",
        "anh",
        "chi",
        "toi",
        "minh",
        "bac",
        "co",
        "chu",
        "ong",
        "ba",
        "ban",
        "bot",
        "ad",
        "admin",
        "xin",
        "hoi",
        "cho",
        "vui",
        "long",
        "lam",
        "on",
        "giup",
        "dum",
        "gium",
        "please",
        "pls",
        "hi",
        "hello",
    }
)

# Everyday words for what the content calls by its official name; a query gets both.
SYNONYMS = {
    "du chat": "dinh duong",
    "an uong": "dinh duong",
    "an du": "dinh duong",
    "suy dinh duong": "dinh duong",
    "lam nong": "san xuat nong nghiep",
    "trong trot": "san xuat nong nghiep",
    "lam ruong": "san xuat nong nghiep",
    "day nghe": "hoc nghe dao tao nghe",
    "hoc nghe": "dao tao nghe",
    "tim viec": "viec lam",
    "xin viec": "viec lam",
    "dieu tra": "ra soat",
    "binh xet": "ra soat",
    "xet ngheo": "ra soat ho ngheo",
    "ung thuan": "dong y",
    "bieu quyet": "dong y",
    "tan thanh": "dong y",
    "rut ten": "thoat ngheo",
    "bo ten": "thoat ngheo",
    "ra khoi danh sach": "thoat ngheo",
    "the bao hiem": "bao hiem y te",
    "kham chua benh": "bao hiem y te",
    "the kham benh": "bao hiem y te",
    "tien hoc": "hoc phi",
    "dong hoc": "hoc phi",
    "cam so do": "tai san bao dam",
    "the chap": "tai san bao dam",
    "nha ve sinh": "nha tieu",
    "di ve sinh": "nha tieu",
    "toilet": "nha tieu",
    "latrine": "nha tieu",
    "nuoc sach": "nguon nuoc sinh hoat",
    "gieng": "nguon nuoc sinh hoat",
    "internet": "dich vu vien thong",
    "dien thoai": "dich vu vien thong",
    "mang": "dich vu vien thong",
    "tivi": "phuong tien tiep can thong tin",
    "ti vi": "phuong tien tiep can thong tin",
    "radio": "phuong tien tiep can thong tin",
    "nha dot": "chat luong nha o",
    "nha tam": "chat luong nha o",
    "nha rach": "chat luong nha o",
    "sua nha": "sua chua nha",
    "cat nha": "xay nha",
    "lam nha": "xay nha",
    "thong bao": "nhan thong bao",
    "nhan tin": "nhan thong bao",
    "khieu nai": "phan anh",
    "kien nghi": "phan anh",
    "gop y": "phan anh",
    "y kien": "phan anh",
    "huyen ngheo": "huyen ngheo",
    "mdrak": "m drak",
}

# Question words of two syllables whose first, folded, is also another word ("bao nhiêu" / "bảo hiểm"):
# no word pair leads into them, so "chuan ngheo bao nhieu" does not pair "ngheo bao" as "nghèo bảo hiểm" does.
QUESTION_PHRASES = frozenset({("bao", "nhieu"), ("bao", "gio"), ("bao", "lau")})

_REPEATS = re.compile(r"([a-z])\1{2,}")
DOUBLES = re.compile(r"([a-z])\1")
_MONEY = re.compile(r"(\d+)(?:[.,](\d+))?\s*(trieu|tr|ty|ti|nghin|ngan|k)\s*(\d)?(?!\w)")
_GROUPED = re.compile(r"\b\d{1,3}(?:[.,]\d{3})+\b")
_DECIMAL = re.compile(r"\b(\d+),(\d+)\b")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_UNITS = {
    "trieu": 1_000_000,
    "tr": 1_000_000,
    "ty": 1_000_000_000,
    "ti": 1_000_000_000,
    "nghin": 1_000,
    "ngan": 1_000,
    "k": 1_000,
}


def _money(match: re.Match[str]) -> str:
    """ "1tr5" / "1,5 trieu" / "40tr" → a plain number of dong."""
    whole, fraction, unit, trailing = match.groups()
    value = float(f"{whole}.{fraction or trailing or 0}") if (fraction or trailing) else float(whole)
    if trailing and not fraction:
        value = int(whole) + int(trailing) / 10
    return f" {round(value * _UNITS[unit])} "


def normalize(text: str) -> str:
    """A search key: folded, teencode expanded, repeated letters and punctuation collapsed,
    amounts like "1tr5", "1,5 triệu" and "1.500.000" written as one plain number. A turn reads a
    short message several times (its intent, a typed choice, the search): short texts are
    normalised once and remembered."""
    return _normalize_short(text) if len(text) <= FOLD_KEPT_LENGTH else _normalize(text)


def _normalize(text: str) -> str:
    folded = strip_diacritics(unicodedata.normalize("NFC", text).casefold())
    folded = _GROUPED.sub(lambda m: re.sub(r"[.,]", "", m.group()), folded)
    folded = _MONEY.sub(_money, folded)
    folded = _DECIMAL.sub(r"\1.\2", folded)
    folded = _LETTER_DIGIT.sub(" ", folded)
    folded = _REPEATS.sub(r"\1", folded)
    folded = re.sub(r"[^\w.%]+|(?<!\d)\.|\.(?!\d)", " ", folded.replace("_", " "))
    words = folded.split()
    tokens = [  # "nhiu" alone asks "bao nhiêu" ("chuẩn nghèo nhiu"); after "bao" it is only its second half
        "nhieu" if word == "nhiu" and index and words[index - 1] == "bao" else ABBREVIATIONS.get(word, word)
        for index, word in enumerate(words)
    ]
    return " ".join(" ".join(tokens).split())


_normalize_short = lru_cache(maxsize=4096)(_normalize)


def with_synonyms(key: str) -> str:
    """A normalised query with the official words for any everyday words it uses appended."""
    padded = f" {key} "
    extra = list(dict.fromkeys(canonical for everyday, canonical in SYNONYMS.items() if f" {everyday} " in padded))
    return " ".join([key, *extra]) if extra else key


_PLURAL_KEPT = frozenset({"news", "series", "species", "means"})


def singular(word: str) -> str:
    """An English plural as its singular ("households" → "household", "subsidies" → "subsidy"). A folded
    Vietnamese syllable never ends in "s", so only English (and other foreign) words change."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")) or word in _PLURAL_KEPT:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    return word[:-1]


def search_words(text: str) -> list[str]:
    """`normalize`d words with English plurals made singular: the form FAQ search compares."""
    return [singular(word) for word in normalize(text).split()]


# Qualifiers: what makes one of several close entries the answer ("hộ cận nghèo" rather than "hộ
# nghèo", "năm 2027" rather than today's line). Within a group they exclude each other. Folded
# phrases, teencode spelled out where `normalize` does not expand it. Found as whole words, longest
# phrase first, so "ho can ngheo" is near_poor and never also poor ("ngheo" alone is no qualifier).
QUALIFIERS: dict[str, dict[str, tuple[str, ...]]] = {
    "household": {
        "poor": (
            "ho ngheo",
            "nha ngheo",
            "nguoi ngheo",
            "gia dinh ngheo",
            "dien ngheo",
            "ho ngeo",
            "nha ngeo",
            "hongheo",
            "poor",
        ),
        "near_poor": (
            "can ngheo",
            "ho can ngheo",
            "dien can ngheo",
            "can ngeo",
            "cngheo",
            "gan ngheo",
            "near poor",
            "nearly poor",
            "almost poor",
            "nearpoor",
        ),
        "newly_escaped": (
            "thoat ngheo",
            "moi thoat ngheo",
            "vua thoat ngheo",
            "da thoat ngheo",
            "thoat can ngheo",
            "thoat ngeo",
            "ra khoi ho ngheo",
            "khoi ho ngheo",
            "ra khoi danh sach ngheo",
            "ra khoi danh sach ho ngheo",
            "khoi danh sach ho ngheo",
            "newly escaped",
            "left poverty",
            "leaving poverty",
            "out of poverty",
            "escaped poverty",
            "leave the poor list",
            "leaving the poor list",
            "left the poor list",
            "off the poor list",
        ),
        "average": (
            "muc song trung binh",
            "ho trung binh",
            "ho co muc song trung binh",
            "average living",
            "average living standard",
            "average income household",
        ),
    },
    "area": {
        "rural": ("nong thon", "o que", "vung que", "mien que", "rural", "countryside"),
        "urban": ("thanh thi", "thanh pho", "thi tran", "urban", "city", "town"),
    },
    # A poor commune or district is a place, not a household type: "xa ngheo" is not "ho ngheo".
    "place": {
        "poor_area": (
            "xa ngheo",
            "huyen ngheo",
            "vung ngheo",
            "xa dac biet kho khan",
            "poor commune",
            "poor district",
            "poor area",
        ),
    },
    "benefit": {
        "health_insurance": (
            "bao hiem y te",
            "the bao hiem y te",
            "the bao hiem",
            "the kham benh",
            "health insurance",
            "insurance card",
        ),
        # Not "so dien" (also "số điện thoại"), "gieng" (also "tháng giêng"), "nha tam" (also "nhà tắm").
        "electricity": (
            "tien dien",
            "hoa don dien",
            "gia dien",
            "dien sinh hoat",
            "ho tro dien",
            "electricity",
            "power bill",
            "electric bill",
        ),
        "housing": (
            "lam nha",
            "xay nha",
            "sua nha",
            "cat nha",
            "dung nha",
            "ho tro nha o",
            "vay nha o",
            "chat luong nha o",
            "dien tich nha o",
            "nha dot nat",
            "housing",
            "build a house",
            "repair the house",
        ),
        "school": ("hoc phi", "tien hoc", "dong hoc", "school fees", "school fee", "tuition"),
        "water": (
            "nuoc sach",
            "nha ve sinh",
            "nha tieu",
            "gieng nuoc",
            "dao gieng",
            "lam gieng",
            "khoan gieng",
            "be nuoc",
            "clean water",
            "toilet",
            "sanitation",
        ),
    },
}
# What a question that names no qualifier of a group means. "Hộ nghèo" is the unmarked household type:
# "vay vốn lãi bao nhiêu" asks about the poor household's loan unless it says otherwise.
IMPLIED_QUALIFIER = {"household": "poor"}

_QUALIFIER_PHRASES = {
    tuple(map(singular, phrase.split())): (group, name)
    for group, names in QUALIFIERS.items()
    for name, phrases in names.items()
    for phrase in phrases
}
_LONGEST_QUALIFIER = max(map(len, _QUALIFIER_PHRASES))
_QUALIFIER_FIRST_WORDS = frozenset(phrase[0] for phrase in _QUALIFIER_PHRASES)
_YEAR = re.compile(r"20\d\d")
_RANGE_WORDS = frozenset({"den", "toi", "to", "until", "through", "till"})
# Years said without a number, counted from the day the question is asked.
_RELATIVE_YEARS = {
    ("nam", "nay"): 0,
    ("this", "year"): 0,
    ("sang", "nam"): 1,
    ("nam", "sau"): 1,
    ("nam", "toi"): 1,
    ("next", "year"): 1,
    ("nam", "ngoai"): -1,
    ("nam", "truoc"): -1,
    ("nam", "roi"): -1,
    ("last", "year"): -1,
}

# Phrases asking about a rule still to come ("chuẩn nghèo mới", "sắp tăng", "will the line go up"): such
# a question, with no year in it, is not only about the rules in force on the day it is asked.
TO_COME = frozenset(
    {
        "chuan moi",
        "chuan ngheo moi",
        "muc moi",
        "muc chuan moi",
        "nguong moi",
        "quy dinh moi",
        "sap toi",
        "toi day",
        "sap ap dung",
        "se ap dung",
        "thay doi",
        "tang len",
        "nang len",
        "nang chuan",
        "tang chuan",
        "new",
        "upcoming",
        "will",
        "going to",
        "change",
        "increase",
        "go up",
        "raise",
    }
)
_LONGEST_TO_COME = max(len(phrase.split()) for phrase in TO_COME)

Years = tuple[int, int]  # a year (2025, 2025) or a period (2021, 2025)


def asks_to_come(words: list[str]) -> bool:
    """Whether normalised words ask about a rule still to come (`TO_COME`)."""
    return any(
        " ".join(words[start : start + size]) in TO_COME
        for size in range(1, _LONGEST_TO_COME + 1)
        for start in range(len(words) - size + 1)
    )


def qualifiers(words: list[str]) -> dict[str, frozenset[str]]:
    """The qualifiers each group names in normalised words, longest phrase first:
    ["ho", "can", "ngheo", "vay", "von"] → {"household": {"near_poor"}}."""
    if _QUALIFIER_FIRST_WORDS.isdisjoint(words):
        return {}
    found = [
        (size, start, qualifier)
        for start, word in enumerate(words)
        if word in _QUALIFIER_FIRST_WORDS
        for size in range(1, min(_LONGEST_QUALIFIER, len(words) - start) + 1)
        if (qualifier := _QUALIFIER_PHRASES.get(tuple(words[start : start + size])))
    ]
    found.sort(key=lambda match: (-match[0], match[1]))  # longest first, then leftmost
    taken = [False] * len(words)
    named: dict[str, set[str]] = {}
    for size, start, (group, name) in found:
        if not any(taken[start : start + size]):
            named.setdefault(group, set()).add(name)
            taken[start : start + size] = [True] * size
    return {group: frozenset(names) for group, names in named.items()}


def years(words: list[str], *, this_year: int | None = None) -> frozenset[Years]:
    """The years and periods named in normalised words: "2025" → (2025, 2025), "2021 2025" and
    "2026 den 2030" → periods. A number after a number above 12 is a document's year ("351/2025"),
    not one the question is about. With `this_year`, "năm nay", "sang năm", "năm ngoái" count too."""
    found: set[Years] = set()
    index = 0
    while index < len(words):
        word = words[index]
        if _YEAR.fullmatch(word) and not (index and words[index - 1].isdigit() and int(words[index - 1]) > 12):
            start = int(word)
            after = index + 2 if index + 2 < len(words) and words[index + 1] in _RANGE_WORDS else index + 1
            if after < len(words) and _YEAR.fullmatch(words[after]) and int(words[after]) > start:
                found.add((start, int(words[after])))
                index = after + 1
                continue
            found.add((start, start))
        elif this_year is not None and index + 1 < len(words):
            shift = _RELATIVE_YEARS.get((word, words[index + 1]))
            counted = not (index and words[index - 1].isdigit())  # "2 năm rồi" is not "năm rồi"
            if shift is not None and counted:
                found.add((this_year + shift, this_year + shift))
        index += 1
    return frozenset(found)
