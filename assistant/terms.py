"""The words a question asks about, weighted by how rare they are in the language, not in the index.

An IDF computed from the collection means nothing when the collection is small: with one
document every word has the same IDF. A word's frequency in Dutch or English at large
(``wordfreq``'s Zipf scale: 7 for "de", 1 for a word seen once in a hundred million) means the
same for one document and for a million. A question's *specific* terms are the ones an answer
cannot do without: numbers, names and words rare in the language ("projectsubsidie").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from wordfreq import zipf_frequency

Tokenize = Callable[[str], list[str]]

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")  # underscores kept, as the tokenizer keeps them
_NUMBER = re.compile(r"\d")
# question words and fillers carry no content of their own: the answer need not repeat them
_ASKING = frozenset(
    "hoeveel welke welk wat wie wiens waarom hoe wanneer waar waarvoor waarmee kan kunt kun zou "
    "wil graag gelieve heeft hebben is zijn er nog al ook even eigenlijk eigelijk precies ongeveer "
    "what which who whom whose why how when where many much does do did can could would should "
    "please tell me there any exactly roughly".split())
_RARE_ZIPF = 3.0  # below this a word is rare in the language: an answer must contain it
_MAX_ZIPF = 7.5


@lru_cache(maxsize=100_000)
def zipf(word: str) -> float:
    """How common ``word`` is in Dutch or English, whichever uses it more (0 = unknown)."""
    lower = word.lower()
    return max(zipf_frequency(lower, "nl"), zipf_frequency(lower, "en"))


@dataclass(frozen=True)
class Term:
    """One content word of a question: its stems, its weight, and whether an answer needs it."""

    word: str
    stems: tuple[str, ...]
    weight: float
    specific: bool
    number: bool = False
    name: bool = False


def question_terms(question: str, tokenize: Tokenize) -> list[Term]:
    """The content words of ``question``, one per stem, rare ones weighing most."""
    terms: list[Term] = []
    seen: set[str] = set()
    for m in _WORD.finditer(question):
        word = m.group(0)
        if word.lower() in _ASKING:
            continue
        stems = tuple(s for s in tokenize(word) if s not in seen)
        if not stems:
            continue
        seen.update(stems)
        number = bool(_NUMBER.search(word))
        # a capital inside the sentence marks a name; "WVG", "OTA" are names at any place
        name = not number and ((word[:1].isupper() and m.start() > 0 and not _sentence_start(question, m.start()))
                               or (len(word) > 1 and word.isupper()))
        frequency = 0.0 if number else zipf(word)
        weight = max(1.0, _MAX_ZIPF - frequency)
        terms.append(Term(word, stems, weight, number or name or frequency < _RARE_ZIPF, number, name))
    return terms


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip()
    return not before or before[-1] in ".!?:;\"“(¿¡"


def coverage(terms: Iterable[Term], tokens: set[str]) -> float:
    """Weighted share of ``terms`` with a stem among ``tokens`` (1.0 when there are no terms)."""
    terms = list(terms)
    total = sum(t.weight for t in terms)
    if not total:
        return 1.0
    return sum(t.weight for t in terms if any(s in tokens for s in t.stems)) / total


def missing(terms: Iterable[Term], tokens: set[str]) -> list[Term]:
    """The specific terms (numbers, names, rare words) none of whose stems is among ``tokens``."""
    return [t for t in terms if t.specific and not any(s in tokens for s in t.stems)]
