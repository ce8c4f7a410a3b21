"""What people type instead of pressing a button, and what a message is about before any FAQ search.

Every set holds folded, teencode-expanded phrases (`content.text.normalize`: no diacritics, lower
case, "ko" → "khong", "dc" → "duoc"). `words(text)` gives the same form for what a person typed,
without politeness particles, so "dạ có ạ", "co a", "Có." all become "co".
"""

from __future__ import annotations

import re
from enum import StrEnum

from content.text import normalize

# Particles dropped before matching a short answer ("da co a" → "co"). Not "khong" / "co": answers.
# "nha" is left in: it is also "nhà" (house).
_FILLER = frozenset(
    {
        "a",
        "ah",
        "ak",
        "oi",
        "nhe",
        "nhen",
        "ne",
        "ha",
        "hen",
        "nhi",
        "the",
        "vay",
        "day",
        "em",
        "anh",
        "chi",
        "bac",
        "chu",
        "ad",
        "admin",
        "roi",
        "luon",
        "di",
        "ma",
    }
)

YES = frozenset(
    {
        "co",
        "da co",
        "vang",
        "da vang",
        "da",
        "u",
        "uh",
        "um",
        "uhm",
        "ok",
        "oke",
        "okay",
        "okie",
        "dong y",
        "toi dong y",
        "chac chan",
        "duoc",
        "duoc roi",
        "dung",
        "dung vay",
        "phai",
        "yes",
        "y",
        "yeah",
        "sure",
        "agree",
        "i agree",
        "co dong y",
        "dong y a",
        "ung",
        "ung y",
        "co a",
        "👍",
    }
)
NO = frozenset(
    {
        "khong",
        "khong a",
        "da khong",
        "khong dong y",
        "khong can",
        "thoi",
        "khong muon",
        "no",
        "n",
        "nope",
        "khong dau",
        "chua",
        "not now",
        "khong duoc",
        "tu choi",
        "👎",
    }
)
SKIP = frozenset(
    {
        "bo qua",
        "qua",
        "tiep",
        "tiep theo",
        "khong co",
        "khong can",
        "skip",
        "next",
        "thoi khong",
        "de sau",
        "khong biet",
        "chua biet",
        "khong muon noi",
        "khong noi",
    }
)
DONE = frozenset(
    {"xong", "xong roi", "het", "het roi", "du roi", "the thoi", "vay thoi", "done", "finished", "ok xong"}
)
CANCEL = frozenset(
    {
        "huy",
        "huy bo",
        "thoi khong gui",
        "khong gui nua",
        "dung lai",
        "dung",
        "cancel",
        "stop",
        "quit",
        "thoat",
        "bo",
        "bo di",
        "thoi bo di",
        "khong lam nua",
    }
)
SEND = frozenset({"gui", "gui di", "gui luon", "gui a", "nop", "send", "submit", "dong y gui"})
ANONYMOUS = frozenset(
    {"an danh", "giau ten", "khong ghi ten", "khong de ten", "khong can ten", "dau ten", "anonymous", "anonymously"}
)
NAMED = frozenset({"ghi ten", "ghi ten toi", "de ten", "co ten", "hien ten", "show my name", "named", "ten toi"})


def words(text: str) -> str:
    """The typed text as a matching key: normalised, without filler particles."""
    kept = [word for word in normalize(text).split() if word not in _FILLER]
    return " ".join(kept)


def is_one_of(text: str, phrases: frozenset[str]) -> bool:
    """Whether the whole message is one of `phrases` (a short answer, not a sentence that contains one)."""
    key = words(text)
    return bool(key) and (key in phrases or normalize(text) in phrases)


class Intent(StrEnum):
    """What a message outside any flow is, before it is taken as a policy question."""

    question = "question"
    grievance = "grievance"
    person = "person"
    subscribe = "subscribe"
    unsubscribe = "unsubscribe"


# A message that tells of a wrong, a complaint or a broken thing: offered as a report.
GRIEVANCE = (
    "bo sot",
    "bo quen",
    "khong duoc xet",
    "khong duoc dua",
    "khong dua",
    "khong cho",
    "khong duoc huong",
    "khong duoc nhan",
    "chua duoc nhan",
    "chua duoc xet",
    "khong cong bang",
    "thien vi",
    "oan",
    "bat cong",
    "khieu nai",
    "phan anh",
    "to cao",
    "buc xuc",
    "de nghi xem xet",
    "xin xem xet",
    "de nghi xet lai",
    "xet lai",
    "hu hong",
    "hu hai",
    "bi hu",
    "sat lo",
    "ngap",
    "lu cuon",
    "sap",
    "nut",
    "ho sau",
    "mat dien",
    "mat nuoc",
    "cat bo",
    "bi loai",
    "bi cat",
    "bi gach ten",
    "lam sai",
    "sai sot",
    "tham nhung",
    "an chan",
    "an bot",
    "doi tien",
    "vo trach nhiem",
    "cham tre",
    "gay kho",
    "nhung nhieu",
    "complain",
    "complaint",
    "unfair",
    "was left out",
    "broken",
    "landslide",
    "flood",
)
PERSON = (
    "gap can bo",
    "gap nguoi",
    "noi chuyen voi nguoi",
    "noi chuyen voi can bo",
    "nguoi that",
    "can bo tra loi",
    "hoi can bo",
    "nhan tin cho can bo",
    "lien he can bo",
    "gap truc tiep",
    "goi dien cho can bo",
    "tong dai vien",
    "speak to a person",
    "talk to a person",
    "talk to someone",
    "real person",
    "human",
    "talk to staff",
    "an officer",
)
UNSUBSCRIBE = (
    "huy dang ky",
    "huy nhan thong bao",
    "khong nhan thong bao",
    "thoi nhan thong bao",
    "dung nhan thong bao",
    "tat thong bao",
    "dung gui thong bao",
    "khong gui thong bao",
    "dung gui tin",
    "khong muon nhan tin",
    "unsubscribe",
    "stop notices",
    "stop sending",
)
SUBSCRIBE = (
    "dang ky nhan thong bao",
    "muon nhan thong bao",
    "nhan thong bao cua xa",
    "bat thong bao",
    "dang ky nhan tin",
    "cho toi nhan thong bao",
    "subscribe",
    "receive notices",
    "turn notices on",
)


def _has(key: str, phrases: tuple[str, ...]) -> bool:
    padded = f" {key} "
    return any(f" {phrase} " in padded for phrase in phrases)


_NEGATIONS = ("khong", "thoi", "dung", "huy", "ngung", "chang", "dont", "don t", "not", "no longer")


def intent(text: str) -> Intent:
    """What a message outside any flow asks for (a policy question unless it says otherwise)."""
    key = normalize(text)
    if _has(key, UNSUBSCRIBE):
        return Intent.unsubscribe
    notices = next(
        (phrase for phrase in (*SUBSCRIBE, "nhan thong bao", "nhan tin") if f" {phrase} " in f" {key} "), None
    )
    if notices and not _has(key, ("lam sao", "nhu the nao", "the nao", "how", "co phai", "bao gio")):
        before = key.split(notices)[0].split()[-3:]
        if any(word in _NEGATIONS for word in before):
            return Intent.unsubscribe
        if notices in SUBSCRIBE:
            return Intent.subscribe
    if _has(key, PERSON):
        return Intent.person
    if _has(key, GRIEVANCE):
        return Intent.grievance
    return Intent.question


_EMOJI_ONLY = re.compile(r"^[\W_]+$", re.UNICODE)


def is_emoji_or_marks(text: str) -> bool:
    """A message of emoji, stickers' text or punctuation only: nothing to search."""
    stripped = text.strip()
    return bool(stripped) and _EMOJI_ONLY.match(stripped) is not None


def report_kind(text: str) -> str:
    """The kind of report a typed story most likely is (TicketKind values)."""
    key = normalize(text)
    if _has(
        key,
        (
            "khieu nai",
            "to cao",
            "bo sot",
            "khong duoc xet",
            "khong dua",
            "khong cho",
            "bi loai",
            "bi cat",
            "thien vi",
            "bat cong",
            "khong cong bang",
            "oan",
            "xet lai",
            "ra soat",
            "complain",
            "complaint",
        ),
    ):
        return "complaint"
    if _has(
        key,
        (
            "hu hong",
            "hu hai",
            "bi hu",
            "sat lo",
            "ngap",
            "sap",
            "nut",
            "mat dien",
            "mat nuoc",
            "broken",
            "landslide",
            "flood",
        ),
    ):
        return "problem"
    if _has(key, ("de nghi", "kien nghi", "nen", "mong muon", "suggest")):
        return "suggestion"
    if text.rstrip().endswith("?"):
        return "question"
    return "feedback"
