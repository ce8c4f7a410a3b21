"""FAQ search: Vietnamese-aware ranking of entries for what a citizen typed.

Pure functions over a prebuilt index (no I/O). Each entry is indexed by its questions, alternative
phrasings and keywords in every locale, normalised (`content.text.normalize`, English plurals made
singular) into words and word pairs. A query is scored per entry by

- coverage: the share of the query's information (IDF-weighted words and pairs) the entry has —
  words the index has never seen count fully against it, so off-topic questions score low; a
  message longer than a question (a story around it) is measured against a question's length;
- fit: for the entry's closest phrasing, how much of that phrasing the query covers (so "chuẩn
  nghèo" prefers "chuẩn nghèo hiện nay" to "chuẩn nghèo mới từ năm 2027") and how similar the two
  strings are as a whole (fuzzy ratio);
- distinctness: how much of what tells the close candidates apart the entry has.

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
from functools import lru_cache
from itertools import islice
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Indel

from content.model import FaqEntry
from content.text import DOUBLES, PARTICLES, QUESTION_PHRASES, normalize, search_words, singular, with_synonyms

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
STORY_LENGTH = 12  # words: nine in ten of the content's phrasings are no longer; beyond, a story surrounds the question
RECENT_QUERIES = 2048  # results kept for repeated questions
RECENT_LENGTH = 200  # ... of at most this many characters

# Subjects people ask a public chatbot about that are outside the programme: the answer is an
# honest "no answer" even when the rest of the words look like a policy question.
OFF_TOPIC = frozenset({
    "thoi tiet", "weather", "gia vang", "gold", "xo so", "lottery", "lo de", "so de", "bong da", "football",
    "soccer", "ho chieu", "passport", "visa", "bang lai", "driving licence", "driver license", "ket hon", "ly hon",
    "marriage", "divorce", "chung khoan", "stock", "bitcoin", "tien ao", "ca si", "phim", "movie", "game",
    "nguoi yeu", "tinh yeu", "crush", "boyfriend", "girlfriend", "gia xang", "petrol", "gasoline",
})


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


def _phrasings(entry: FaqEntry) -> list[str]:
    """The entry's questions, alternatives and keywords in every locale, normalised, without repeats."""
    return sorted({
        key
        for text in entry.texts.values()
        for raw in (text.question, *text.alternatives, *text.keywords)
        if (key := " ".join(search_words(raw)))
    })


def _off_topic(query: str) -> bool:
    """Whether the query names a subject this bot never covers (weather, prices, passports, …)."""
    padded = f" {query} "
    return any(f" {phrase} " in padded for phrase in OFF_TOPIC)


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
        texts = [_phrasings(entry) for entry in self.entries]
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
            [_Phrase(text, sum(self._idf[term] for term in terms) or 1.0) for text, terms in zip(phrasings, all_terms, strict=True)]
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
            found = process.extractOne(word, self._vocabulary, scorer=OSA.distance, score_cutoff=1 if len(word) < 8 else 2)
            return found[0] if found else None
        # Short words: only a forgotten letter ("ngeo" → "ngheo") or two swapped letters; a changed or
        # extra letter too often makes another real word ("bong" → "bang", "chao" → "cao").
        for candidate, distance, _index in process.extract(
            word, self._vocabulary, scorer=Indel.distance, score_cutoff=2, limit=10
        ):
            if (distance == 1 and len(candidate) == len(word) + 1) or (distance == 2 and sorted(candidate) == sorted(word)):
                return candidate
        return None

    def _segment(self, word: str) -> list[str] | None:
        """Split a run of glued words into indexed words (fewest pieces, each at least 2 letters)."""
        if len(word) < 5 or len(word) > 40:
            return None
        best: list[list[str] | None] = [[]] + [None] * len(word)
        for end in range(2, len(word) + 1):
            for begin in range(max(0, end - 8), end - 1):
                head = best[begin]
                piece = word[begin:end]
                if head is not None and piece in self._idf and (best[end] is None or len(head) + 1 < len(best[end])):
                    best[end] = [*head, piece]
        return best[-1] if best[-1] and len(best[-1]) > 1 else None

    def search(self, text: str, *, on: date, limit: int = 3) -> SearchResult:
        """Rank the entries served on `on` (`FaqEntry.is_served_on`) for `text`; decide answer / suggest / none."""
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
        terms = typed | _terms(with_synonyms(query).split()[len(words):])
        weights = {
            term: self._idf.get(term, self._unknown(term)) * (1.0 if term in typed else SYNONYM_WEIGHT) for term in terms
        }
        total = sum(weights.values()) or 1.0
        shared = {index: self._terms[index].intersection(weights) for index in self._candidates(weights, on)}
        contrast = self._contrast(weights, shared)
        contrast_total = sum(contrast.values()) or 1.0
        told = total * min(1.0, STORY_LENGTH / len(words))  # the information a question's own words carry
        scored = []
        for index, common in shared.items():
            evidence = sum(weights[term] for term in common)
            share = min(1.0, evidence / told)
            if share < MIN_COVERAGE or evidence < MIN_EVIDENCE:
                continue
            fit = self._fit(query, weights, common, total, index)
            distinct = sum(contrast[term] for term in common) / contrast_total
            score = BAG_WEIGHT * share + FIT_WEIGHT * fit + (1 - BAG_WEIGHT - FIT_WEIGHT) * distinct
            scored.append(Match(self.entries[index], round(score, 4)))
        scored.sort(key=lambda match: match.score, reverse=True)
        return self._decide(key, scored, limit)

    def _candidates(self, weights: dict[str, float], on: date) -> list[int]:
        """Entries served on `on` that share the most with the query, found through its less
        common terms (a word most entries have, like "hộ", picks nothing out)."""
        informative = {t: w for t, w in weights.items() if len(self._postings.get(t, ())) <= self._common} or weights
        found: dict[int, float] = defaultdict(float)
        for term, weight in informative.items():
            for index in self._postings.get(term, ()):
                found[index] += weight
        ranked = sorted(found, key=found.__getitem__, reverse=True)
        valid = (index for index in ranked if self.entries[index].is_served_on(on))
        return list(islice(valid, FUZZY_CANDIDATES))

    @staticmethod
    def _contrast(weights: dict[str, float], shared: dict[int, set[str]]) -> dict[str, float]:
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

    def _fit(self, query: str, weights: dict[str, float], common: set[str], total: float, index: int) -> float:
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
