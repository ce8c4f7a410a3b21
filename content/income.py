"""Household income as people write it, and income per person per month.

Pure functions, no I/O: `parse_income("15 triệu một năm")` reads an amount the way households type
it ("1tr2", "1 triệu 2", "1,2 triệu", "1.200.000đ", "1200k", "mỗi tháng 3 triệu", "2 tr/người"),
with the period (a month, a year) and whether it is per person when the text says so. Several
amounts in one message are added up ("lúa 15 triệu, làm thuê 10 triệu một năm" is 25 million a year).
`per_person_month` turns an amount into an exact income per person per month (a `Fraction`, so that
an income exactly on the line is never pushed over it by rounding).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

MAX_DONG = 10_000_000_000  # 10 tỷ: anything larger is a typo, not a household's income


class Period(StrEnum):
    """The time an amount covers."""

    month = "month"
    year = "year"


@dataclass(frozen=True)
class Income:
    """An amount of đồng as typed: the period and per-person basis when the text names them (None: not said)."""

    dong: int
    period: Period | None = None
    per_person: bool | None = None


_UNITS = {
    "ty": 1_000_000_000,
    "ti": 1_000_000_000,
    "trieu": 1_000_000,
    "tr": 1_000_000,
    "cu": 1_000_000,
    "m": 1_000_000,
    "million": 1_000_000,
    "millions": 1_000_000,
    "mil": 1_000_000,
    "nghin": 1_000,
    "ngan": 1_000,
    "k": 1_000,
    "thousand": 1_000,
    "lit": 100_000,
    "xi": 100_000,
}
_DONG = r"(?:dong|d|vnd|vnđ)"
_WORD_NUMBERS = {  # one to ten, for amounts ("hai triệu") and people ("năm người")
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
    "muoi": 10,
}
_UNIT = r"(?:trieu|tr|ty|ti|cu|million|millions|mil|nghin|ngan|thousand|lit|xi|k|m)"
# a number: 1.200.000 / 1,200,000 / 1 200 000 (groups of three), 1,2 / 1.5 (a decimal), 1200
_NUMBER = r"\d{1,3}(?:[., ]\d{3})+(?!\d)|\d+(?:[.,]\d+)?"
_AMOUNT = re.compile(
    rf"(?<![\w.,])(?P<number>{_NUMBER}|{'|'.join(_WORD_NUMBERS)})\s*(?P<unit>{_UNIT})?(?![a-z])"
    rf"(?:\s*(?P<ruoi>ruoi)|\s*(?P<trailing>\d{{1,3}})(?!\s*(?:[.,]\d|\d|{_UNIT}\b|nguoi|khau|thang|nam|ngay)))?"
    rf"\s*(?:{_DONG}(?![a-z]))?"
)
_NOT_MONEY_AFTER = re.compile(
    r"^\s*(?:nguoi|khau|nhan khau|thanh vien|thang|nam|ngay|tuoi|con|lan|sao|ha|m2|person|people|month|year|day)\b"
)
_YEAR = re.compile(
    r"(?:/\s*nam|\b(?:mot|moi|1|ca|hang|trong|cua|per|a|each|every)\s+nam\b|\bnam\s*$|\b(?:year|yearly|annually|annual|yr)\b)"
)
_MONTH = re.compile(
    r"(?:/\s*thang|\b(?:mot|moi|1|hang|trong|per|a|each|every)\s+thang\b|\bthang\s*$|\b(?:month|monthly)\b)"
)
_PER_PERSON = re.compile(
    r"(?:/\s*(?:nguoi|khau)|\b(?:moi|1|mot|tung|binh quan|bq|tren|dau)\s+(?:nguoi|khau|nhan khau)\b"
    r"|\b(?:nguoi|khau)\s*/\s*thang\b|\bdau nguoi\b|\bper (?:person|head|capita)\b|\beach person\b|\bper_person\b)"
)
_HOUSEHOLD = re.compile(
    r"\b(?:ca nha|ca ho|nha toi|ho toi|gia dinh|tong|ca gia dinh|household|whole family|in total|total)\b"
)


def fold_amount(text: str) -> str:
    """Lower case, without diacritics (đ → d), punctuation that carries numbers (. , /) kept."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D").casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^\w.,/ ]+", " ", text.replace("_", " "))
    # "1tr2", "800k": letters and digits written together are separate words
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _number(raw: str) -> Fraction:
    """ "1.200.000" / "1,200,000" / "1 200 000" → 1200000; "1,2" / "1.5" → a decimal; "năm" → 5."""
    if raw in _WORD_NUMBERS:
        return Fraction(_WORD_NUMBERS[raw])
    if re.fullmatch(r"\d{1,3}(?:[., ]\d{3})+", raw):
        separators = set(re.findall(r"[., ]", raw))
        if len(separators) == 1:
            return Fraction(int(re.sub(r"[., ]", "", raw)))
    return Fraction(raw.replace(",", ".").replace(" ", ""))


def _value(match: re.Match[str]) -> Fraction | None:
    """One matched amount in đồng, or None when it is a bare word number (not money)."""
    raw, unit = match.group("number"), match.group("unit")
    if raw in _WORD_NUMBERS and not unit:
        return None
    number = _number(raw)
    if unit:
        scale = _UNITS[unit]
        if match.group("ruoi"):
            number += Fraction(1, 2)
        elif match.group("trailing"):
            trailing = match.group("trailing")
            number += Fraction(int(trailing), 10 ** len(trailing))
        return number * scale
    # no unit: "2.000.000" is đồng; a small number is read as people say money aloud
    if number >= 10_000:
        return number
    if number >= 1_000:  # "1500": 1.500 nghìn
        return number * 1_000
    return number * 1_000_000  # "1,2" or "3": triệu


def parse_income(text: str) -> Income | None:
    """The income a message states, or None when it names no amount of money."""
    folded = fold_amount(text)
    explicit: list[Fraction] = []  # with a unit, "đ", or written out in full
    bare: list[Fraction] = []
    for match in _AMOUNT.finditer(folded):
        if not match.group("unit") and _NOT_MONEY_AFTER.match(folded[match.end("number") :]):
            continue  # "5 người", "12 tháng": a count, not money
        value = _value(match)
        if value is None:
            continue
        said = (
            match.group("unit")
            or match.group(0).rstrip().endswith(("d", "dong", "vnd"))
            or value == _number(match.group("number"))
        )
        (explicit if said else bare).append(value)
    total = sum(explicit or bare, Fraction(0))
    if total <= 0 or total > MAX_DONG:
        return None
    period = Period.year if _YEAR.search(folded) else Period.month if _MONTH.search(folded) else None
    per_person = True if _PER_PERSON.search(folded) else False if _HOUSEHOLD.search(folded) else None
    return Income(int(round(total)), period, per_person)


def per_person_month(dong: int, *, period: Period, per_person: bool, people: int) -> Fraction:
    """Income per person per month, exactly."""
    if people < 1:
        raise ValueError("a household has at least one person")
    monthly = Fraction(dong) / (12 if period is Period.year else 1)
    return monthly if per_person else monthly / people


_PEOPLE = re.compile(r"(?<![\d.,])(\d{1,2})(?![\d.,])")
MAX_PEOPLE = 30


_COUNTED = re.compile(
    r"(?<![\d.,])(\d{1,2}|" + "|".join(_WORD_NUMBERS) + r")\s*(?:nguoi|khau|nhan khau|thanh vien|people|persons)\b"
)


def parse_people(text: str, *, strict: bool = False) -> int | None:
    """How many people a message says live in the household ("5", "5 người", "nhà có năm người");
    `strict`: only a number said with "người", "khẩu" (in a message that says more than that)."""
    folded = fold_amount(text)
    counted = [int(n) if n.isdigit() else _WORD_NUMBERS[n] for n in _COUNTED.findall(folded)]
    if counted or strict:
        numbers = counted
    else:
        numbers = [int(number) for number in _PEOPLE.findall(folded)]
    if not numbers and not strict:
        numbers = [_WORD_NUMBERS[word] for word in folded.split() if word in _WORD_NUMBERS]
    if len(numbers) != 1 or not 1 <= numbers[0] <= MAX_PEOPLE:
        return None
    return numbers[0]
