"""FAQ search: Vietnamese-aware ranking of entries for what a citizen typed.

Pure functions over a prebuilt index (no I/O). Each entry is indexed by its questions, alternative
phrasings and keywords in every locale, normalised (`content.text.normalize`, English plurals made
singular) into words and word pairs. Only entries in force on the day asked are ranked: served
that day (`FaqEntry.is_served_on`) and not replaced that day by their `replaced_by` successor. A
query is scored per entry by

- coverage: the share of the query's information (IDF-weighted words and pairs) the entry has —
  words the index has never seen count fully against it, so off-topic questions score low; a
  message longer than a question (a story around it) is measured against a question's length;
- fit: for the entry's closest phrasing, how much of that phrasing the query covers (so "chuẩn
  nghèo" prefers "chuẩn nghèo hiện nay" to "chuẩn nghèo mới từ năm 2027") and how similar the two
  strings are as a whole (fuzzy ratio);
- distinctness: how much of what tells the close candidates apart the entry has.

Then qualifiers (`content.text.QUALIFIERS`: household type, rural or urban, benefit; and years)
decide between close neighbours: an entry about another household type, benefit, area or year than
the question names is lowered when a neighbour is about the one named ("hộ nghèo" → the poor
household's health insurance, not the near-poor's), and the entry about exactly it is raised if
such a neighbour stood in its way. A question naming no household type means the poor household;
one naming no year and no rule to come means the rules in force that day, not an entry about later
years only.

Misspelt words are first corrected to the closest indexed word: one letter missing, extra or
swapped in short words, one edit (or two in long words) otherwise. The best score, and its margin
over the next entry, decide between answering, offering "did you mean" choices, and admitting there
is no answer.

Many citizens type the same few questions ("chuan ngheo la bao nhieu"), so the index keeps the
results of its most recent distinct queries: a repeated question costs a dictionary lookup. The
index never changes (new content builds a new one), so a kept result is never stale.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from typing import NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Indel

from content.model import FaqEntry
from content.text import (
    DOUBLES,
    IMPLIED_QUALIFIER,
    PARTICLES,
    QUESTION_PHRASES,
    Years,
    asks_to_come,
    normalize,
    qualifiers,
    search_words,
    singular,
    with_synonyms,
    years,
)

BAG_WEIGHT = 0.4
FIT_WEIGHT = 0.5
QUERY_FIT = 0.4
PHRASE_FIT = 0.3
UNSEEN_PAIR = 0.3
PAIR_BOOST = 1.0
MIN_EVIDENCE = 1.5
SYNONYM_WEIGHT = 0.3
ANSWER_SCORE = 0.65
ANSWER_MARGIN = 0.06
SUGGEST_SCORE = 0.38
MIN_COVERAGE = 0.4
FUZZY_CANDIDATES = 16
COMMON_SHARE = 0.3
FUZZY_PHRASES = 4
MIN_CORRECTABLE = 4
QUALIFIER_PENALTY = 0.15  # an entry about another household type, area, year or benefit than the one asked,
QUALIFIER_BAND = 0.25  # ... when a neighbour about the one asked scores at most this much lower
QUALIFIER_BONUS = 0.05  # the entry about exactly the one asked, when such a neighbour stood in its way
IN_FORCE_PENALTY = 0.2  # an entry about later years only, for a question about no year and no rule to come
ORDER_STEP = 0.001  # how far after its neighbour an entry about a household type not asked is put
STORY_LENGTH = 12  # words: nine in ten of the content's phrasings are no longer; beyond, a story surrounds the question
RECENT_QUERIES = 2048  # results kept for repeated questions
RECENT_LENGTH = 200  # ... of at most this many characters

# Subjects people ask a public chatbot about that are outside the programme: the answer is an
# honest "no answer" even when the rest of the words look like a policy question.
OFF_TOPIC = frozenset(
    {
        "thoi tiet",
        "weather",
        "gia vang",
        "gold",
        "xo so",
        "lottery",
        "lo de",
        "so de",
        "bong da",
        "football",
        "soccer",
        "ho chieu",
        "passport",
        "visa",
        "bang lai",
        "driving licence",
        "driver license",
        "ket hon",
        "ly hon",
        "marriage",
        "divorce",
        "chung khoan",
        "stock",
        "bitcoin",
        "tien ao",
        "ca si",
        "phim",
        "movie",
        "game",
        "nguoi yeu",
        "tinh yeu",
        "crush",
        "boyfriend",
        "girlfriend",
        "gia xang",
        "petrol",
        "gasoline",
        # Commercial banks and savings: the programme's loans are the Social Policy Bank's.
        "agribank",
        "vietcombank",
        "vietinbank",
        "bidv",
        "techcombank",
        "sacombank",
        "vpbank",
        "tpbank",
        "mbbank",
        "mb bank",
        "ngan hang thuong mai",
        "gui tiet kiem",
        "lai suat tiet kiem",
        "savings account",
    }
)


class Status(StrEnum):
    """What the search concluded."""

    answer = "answer"
    suggest = "suggest"
    none = "none"


@dataclass(frozen=True)
class Match:
    """An entry and its score (0–1)."""

    entry: FaqEntry
    score: float


@dataclass(frozen=True)
class SearchResult:
    """The outcome for one query: the answer, or suggestions, or nothing."""

    status: Status
    key: str
    matches: tuple[Match, ...] = ()

    @property
    def best(self) -> Match | None:
        """The top match, if any."""
        return self.matches[0] if self.matches else None


class _Phrase(NamedTuple):
    """One normalised phrasing of an entry and the total weight of its terms."""

    text: str
    weight: float


def _wordings(entry: FaqEntry) -> list[tuple[bool, list[str]]]:
    """The entry's questions, alternatives and keywords in every locale as search words
    (`content.text.search_words`), each with whether it is the question."""
    return [
        (position == 0, search_words(raw))
        for text in entry.texts.values()
        for position, raw in enumerate((text.question, *text.alternatives, *text.keywords))
    ]


def _phrasings(wordings: list[tuple[bool, list[str]]]) -> list[str]:
    """An entry's wordings as texts, without repeats."""
    return sorted({" ".join(words) for _question, words in wordings if words})


def _off_topic(query: str) -> bool:
    """Whether the query names a subject this bot never covers (weather, prices, passports, …)."""
    padded = f" {query} "
    return any(f" {phrase} " in padded for phrase in OFF_TOPIC)


class _Qualified(NamedTuple):
    """What an entry is specifically about: qualifiers by group, and years."""

    named: dict[str, frozenset[str]]
    years: frozenset[Years]


def _qualified(wordings: list[tuple[bool, list[str]]]) -> _Qualified:
    """The qualifiers (`content.text.QUALIFIERS`) and years an entry's questions name, and those any
    of its phrasings names alone: a phrasing naming two ("hộ nghèo và hộ cận nghèo khác nhau thế
    nào?") compares them, the entry is not about both."""
    named: dict[str, set[str]] = defaultdict(set)
    found_years: set[Years] = set()
    for question, words in wordings:
        for group, names in qualifiers(words).items():
            if question or len(names) == 1:
                named[group] |= names
        in_phrase = years(words)
        if question or len(in_phrase) == 1:
            found_years |= in_phrase
    return _Qualified({group: frozenset(names) for group, names in named.items()}, frozenset(found_years))


class _Check(NamedTuple):
    """One group of qualifiers for one question: whether each entry is about what the question names
    (True), about something else (False) or about nothing of the group (None); which are about exactly it."""

    named: bool  # the question names it (else it is implied)
    fits: dict[int, bool | None]
    exact: set[int]
    penalty: float | None = QUALIFIER_PENALTY  # None: only put it after its neighbour in a close call
    plain_fits: bool = False  # an entry about nothing of the group is a neighbour that fits
    same_topic: bool = False  # only a neighbour in the same topic counts (the same subject at another time)


def _overlap(asked: frozenset[Years], named: frozenset[Years]) -> bool:
    """Whether a year or period asked is one the entry names: the same, or a year within a period."""
    return any(
        a == n or (a[0] == a[1] and n[0] <= a[0] <= n[1]) or (n[0] == n[1] and a[0] <= n[0] <= a[1])
        for a in asked
        for n in named
    )


def _terms(words: Sequence[str]) -> set[str]:
    """Words and adjacent word pairs ("ho", "ngheo", "ho ngheo"), none leading into a question word
    (`QUESTION_PHRASES`: "ngheo bao" from "chuan ngheo bao nhieu" is not "nghèo bảo hiểm")."""
    following = [*words[2:], ""]
    return set(words) | {
        f"{a} {b}" for a, b, c in zip(words, words[1:], following, strict=False) if (b, c) not in QUESTION_PHRASES
    }


class FaqIndex:
    """An immutable search index over FAQ entries."""

    def __init__(self, entries: Iterable[FaqEntry], *, recent: int = RECENT_QUERIES) -> None:
        """`recent`: how many distinct (text, day, limit) results to keep; 0 ranks every query anew."""
        self._search = lru_cache(maxsize=recent)(self._rank) if recent else self._rank
        self.entries: list[FaqEntry] = list(entries)
        wordings = [_wordings(entry) for entry in self.entries]
        texts = [_phrasings(these) for these in wordings]
        phrase_terms = [[frozenset(_terms(text.split())) for text in phrasings] for phrasings in texts]
        self._terms: list[frozenset[str]] = [frozenset().union(*terms) for terms in phrase_terms]
        postings: dict[str, list[int]] = defaultdict(list)
        for index, terms in enumerate(self._terms):
            for term in terms:
                postings[term].append(index)
        count = max(len(self.entries), 1)
        self._idf = {
            term: math.log((count + 1) / (len(ids) + 0.5)) * (PAIR_BOOST if " " in term else 1.0)
            for term, ids in postings.items()
        }
        self._phrases: list[list[_Phrase]] = [
            [
                _Phrase(text, sum(self._idf[term] for term in terms) or 1.0)
                for text, terms in zip(phrasings, all_terms, strict=True)
            ]
            for phrasings, all_terms in zip(texts, phrase_terms, strict=True)
        ]
        self._phrase_postings: list[dict[str, tuple[int, ...]]] = []  # per entry: term → its phrasings having it
        for all_terms in phrase_terms:
            having: dict[str, list[int]] = defaultdict(list)
            for position, terms in enumerate(all_terms):
                for term in terms:
                    having[term].append(position)
            self._phrase_postings.append({term: tuple(positions) for term, positions in having.items()})
        self._postings = dict(postings)
        self._common = count * COMMON_SHARE
        self._unknown_weight = math.log((count + 1) / 0.5)
        self._vocabulary = sorted({term for term in postings if " " not in term and len(term) >= MIN_CORRECTABLE - 1})
        self._qualified = [_qualified(these) for these in wordings]
        by_id = {entry.id: index for index, entry in enumerate(self.entries)}
        self._successor = [by_id.get(entry.replaced_by) if entry.replaced_by else None for entry in self.entries]
        self._groups = sorted({group for qualified in self._qualified for group in qualified.named})

    def __len__(self) -> int:
        return len(self.entries)

    def correct(self, words: list[str]) -> list[str]:
        """Replace unknown words by the indexed word a typo most likely meant, and split words
        typed without spaces ("chuanngheo" → "chuan ngheo")."""
        corrected: list[str] = []
        for word in words:
            if word in self._idf or len(word) < MIN_CORRECTABLE or word.isdigit():
                corrected.append(word)
                continue
            undoubled = DOUBLES.sub(r"\1", word)
            if undoubled in self._idf:
                corrected.append(undoubled)
                continue
            closest = self._closest(word)
            corrected.extend([closest] if closest else self._segment(word) or [word])
        return corrected

    def _closest(self, word: str) -> str | None:
        """The indexed word a typo most likely meant, or None."""
        if len(word) >= 6:
            found = process.extractOne(
                word, self._vocabulary, scorer=OSA.distance, score_cutoff=1 if len(word) < 8 else 2
            )
            return found[0] if found else None
        # Short words: only a forgotten letter ("ngeo" → "ngheo") or two swapped letters; a changed or
        # extra letter too often makes another real word ("bong" → "bang", "chao" → "cao").
        for candidate, distance, _index in process.extract(
            word, self._vocabulary, scorer=Indel.distance, score_cutoff=2, limit=10
        ):
            if (distance == 1 and len(candidate) == len(word) + 1) or (
                distance == 2 and sorted(candidate) == sorted(word)
            ):
                return candidate
        return None

    def _segment(self, word: str) -> list[str] | None:
        """Split a run of glued words into indexed words (fewest pieces, each at least 2 letters)."""
        if len(word) < 5 or len(word) > 40:
            return None
        best: list[list[str] | None] = [[]] + [None] * len(word)
        for end in range(2, len(word) + 1):
            for begin in range(max(0, end - 8), end - 1):
                head, current = best[begin], best[end]
                piece = word[begin:end]
                if head is not None and piece in self._idf and (current is None or len(head) + 1 < len(current)):
                    best[end] = [*head, piece]
        return best[-1] if best[-1] and len(best[-1]) > 1 else None

    def search(self, text: str, *, on: date, limit: int = 3) -> SearchResult:
        """Rank the entries served on `on` (`FaqEntry.is_served_on`), but for one replaced that day by
        its successor, for `text`; decide answer / suggest / none."""
        if len(text) > RECENT_LENGTH:  # long messages are seldom repeated word for word
            return self._rank(text, on, limit)
        return self._search(text, on, limit)

    def _rank(self, text: str, on: date, limit: int) -> SearchResult:
        key = normalize(text)
        words = self.correct([singular(word) for word in key.split()])
        if not words:
            return SearchResult(Status.none, key)
        query = " ".join(words)
        if _off_topic(query):
            return SearchResult(Status.none, key)
        typed = _terms(words)
        terms = typed | _terms(with_synonyms(query).split()[len(words) :])
        weights = {
            term: self._idf.get(term, self._unknown(term)) * (1.0 if term in typed else SYNONYM_WEIGHT)
            for term in terms
        }
        total = sum(weights.values()) or 1.0
        shared = {index: self._terms[index].intersection(weights) for index in self._candidates(weights, on)}
        contrast = self._contrast(weights, shared)
        contrast_total = sum(contrast.values()) or 1.0
        told = total * min(1.0, STORY_LENGTH / len(words))  # the information a question's own words carry
        scores = {}
        for index, common in shared.items():
            evidence = sum(weights[term] for term in common)
            share = min(1.0, evidence / told)
            if share < MIN_COVERAGE or evidence < MIN_EVIDENCE:
                continue
            fit = self._fit(query, weights, common, total, index)
            distinct = sum(contrast[term] for term in common) / contrast_total
            scores[index] = BAG_WEIGHT * share + FIT_WEIGHT * fit + (1 - BAG_WEIGHT - FIT_WEIGHT) * distinct
        if len(scores) > 1:
            scores = self._qualify(scores, words, on)
        scored = [Match(self.entries[index], round(max(score, 0.0), 4)) for index, score in scores.items()]
        scored.sort(key=lambda match: match.score, reverse=True)
        return self._decide(key, scored, limit)

    def _qualify(self, scores: dict[int, float], words: list[str], on: date) -> dict[int, float]:
        """The scores after qualifiers: an entry about another household type, area, benefit or year
        than the question names is lowered when a close neighbour is about the one it names ("hộ
        nghèo" → health insurance for the poor, not for the near-poor), and an entry about exactly
        that one is raised if such a neighbour stood in its way. A question naming no household type
        means the poor household, but only to order a close call (another type comes after it, and
        the call stays close); one naming no year and no rule to come asks about the rules in force on
        `on` (an entry about later years only is lowered when an entry of its topic about years in
        force is close)."""
        checks = self._qualifier_checks(scores, words, on)
        adjusted = dict(scores)
        for check in checks:
            neighbours = [index for index, fit in check.fits.items() if fit or (fit is None and check.plain_fits)]
            lowered = [  # about something else, with a neighbour that fits close by
                index
                for index, fit in check.fits.items()
                if fit is False
                and any(
                    scores[other] >= scores[index] - QUALIFIER_BAND
                    and not (check.same_topic and self.entries[other].topic != self.entries[index].topic)
                    for other in neighbours
                )
            ]
            for index in lowered:
                if check.penalty is not None:
                    adjusted[index] -= check.penalty
                    continue
                closest = max(scores[other] for other in neighbours)
                if 0 <= scores[index] - closest < ANSWER_MARGIN:
                    adjusted[index] = closest - ORDER_STEP
            if check.named and lowered:
                rival = max(scores[index] for index in lowered)
                for index in check.exact:
                    if rival >= scores[index] - ANSWER_MARGIN:  # it stood in the way of answering
                        adjusted[index] += QUALIFIER_BONUS
        return adjusted

    def _qualifier_checks(self, scores: dict[int, float], words: list[str], on: date) -> list[_Check]:
        """For each group of qualifiers, whether each scored entry is about what the question names
        (or implies), about something else, or about nothing of the group."""
        asked = qualifiers(words)
        checks = []
        for group in self._groups:
            names = asked.get(group) or frozenset(filter(None, [IMPLIED_QUALIFIER.get(group)]))
            if names:
                named = {index: self._qualified[index].named.get(group, frozenset()) for index in scores}
                checks.append(
                    _Check(
                        group in asked,
                        {index: bool(these & names) if these else None for index, these in named.items()},
                        {index for index, these in named.items() if these and these <= names},
                        QUALIFIER_PENALTY if group in asked else None,
                        group not in asked,
                    )
                )
        asked_years = years(words, this_year=on.year)
        named_years = {index: self._qualified[index].years for index in scores}
        if asked_years:
            checks.append(
                _Check(
                    True,
                    {index: _overlap(asked_years, these) if these else None for index, these in named_years.items()},
                    {
                        index
                        for index, these in named_years.items()
                        if these and all(_overlap(asked_years, frozenset([one])) for one in these)
                    },
                )
            )
        elif not asks_to_come(words):  # the rules in force: not an entry about later years only
            checks.append(
                _Check(
                    False,
                    {
                        index: any(first <= on.year for first, _last in these) if these else None
                        for index, these in named_years.items()
                    },
                    set(),
                    IN_FORCE_PENALTY,
                    same_topic=True,
                )
            )
        return checks

    def _candidates(self, weights: dict[str, float], on: date) -> list[int]:
        """Entries in force on `on` (`_in_force`) that share the most with the query, found through its
        less common terms (a word most entries have, like "hộ", picks nothing out)."""
        informative = {t: w for t, w in weights.items() if len(self._postings.get(t, ())) <= self._common} or weights
        found: dict[int, float] = defaultdict(float)
        for term, weight in informative.items():
            for index in self._postings.get(term, ()):
                found[index] += weight
        ranked = sorted(found, key=found.__getitem__, reverse=True)
        valid = (index for index in ranked if self._in_force(index, on))
        return list(islice(valid, FUZZY_CANDIDATES))

    def _in_force(self, index: int, on: date) -> bool:
        """Whether the entry is served on `on` and not replaced that day by its `replaced_by` successor
        (should staff let the two overlap, the rule that replaces the other is the one in force)."""
        successor = self._successor[index]
        return self.entries[index].is_served_on(on) and not (
            successor is not None and self.entries[successor].is_served_on(on)
        )

    @staticmethod
    def _contrast(weights: dict[str, float], shared: Mapping[int, AbstractSet[str]]) -> dict[str, float]:
        """Query terms weighted by how well they tell the close candidates apart: "cận nghèo" counts
        among entries that all speak of "bảo hiểm y tế", which itself then counts for little.
        `shared`: each candidate's terms in common with the query."""
        having: dict[str, int] = defaultdict(int)
        for common in shared.values():
            for term in common:
                having[term] += 1
        count = len(shared)
        return {term: weights[term] * math.log((count + 1) / (number + 0.5)) for term, number in having.items()}

    def _unknown(self, term: str) -> float:
        """The weight of a term no entry has: a word counts fully against the entries, unless it is
        a particle or a lone letter (the "s" of "what's"); an unseen pair of known words counts a
        little (a new combination, like "hộ chiếu" from "hộ" and "chiều")."""
        if " " not in term:
            return 0.0 if term in PARTICLES or (len(term) == 1 and term.isalpha()) else self._unknown_weight
        first, second = term.split(" ", 1)
        if first in PARTICLES or second in PARTICLES or first not in self._idf or second not in self._idf:
            return 0.0
        return UNSEEN_PAIR * max(self._idf[first], self._idf[second])

    def _fit(self, query: str, weights: dict[str, float], common: AbstractSet[str], total: float, index: int) -> float:
        """How well the entry's closest phrasing fits the query: how much of the query it has, how
        much of it the query has, and how alike the two strings are (compared for the few phrasings
        that share the most words, as string comparison is the costly part). `common`: the entry's
        terms in the query."""
        phrases = self._phrases[index]
        postings = self._phrase_postings[index]
        of_query = [0.0] * len(phrases)
        of_phrase = [0.0] * len(phrases)
        for term in common:
            weight, idf = weights[term], self._idf[term]
            for position in postings[term]:
                of_query[position] += weight
                of_phrase[position] += idf
        overlaps = [
            (QUERY_FIT * shared_query / total + PHRASE_FIT * shared_phrase / phrase.weight, phrase.text)
            for phrase, shared_query, shared_phrase in zip(phrases, of_query, of_phrase, strict=True)
            if shared_phrase
        ]
        overlaps.sort(reverse=True)
        similar = 1 - QUERY_FIT - PHRASE_FIT
        return max(
            (overlap + similar * fuzz.QRatio(query, text) / 100 for overlap, text in overlaps[:FUZZY_PHRASES]),
            default=0.0,
        )

    @staticmethod
    def _decide(key: str, scored: list[Match], limit: int) -> SearchResult:
        if not scored or scored[0].score < SUGGEST_SCORE:
            return SearchResult(Status.none, key)
        best = scored[0]
        runner_up = scored[1].score if len(scored) > 1 else 0.0
        if best.score >= ANSWER_SCORE and best.score - runner_up >= ANSWER_MARGIN:
            return SearchResult(Status.answer, key, (best,))
        suggestions = tuple(m for m in scored[:limit] if m.score >= SUGGEST_SCORE)
        return SearchResult(Status.suggest, key, suggestions)
