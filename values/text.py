"""Text helpers every layer shares: folded, stemmed tokens for keyword search and word matching; squash and cut."""

from __future__ import annotations

import re
import unicodedata

import Stemmer
from bm25s.stopwords import STOPWORDS_DUTCH, STOPWORDS_EN

_WORD = re.compile(r"\w\w+")
_STOP = frozenset(STOPWORDS_DUTCH) | frozenset(STOPWORDS_EN)


def fold(text: str) -> str:
    """Lower-case and strip accents: 'België' and 'Belgie' become the same word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Tokenizer:
    """Folded, stopword-free, Dutch-stemmed tokens."""

    def __init__(self, language: str = "dutch") -> None:
        self._stemmer = Stemmer.Stemmer(language)
        self._stemmer.maxCacheSize = 200_000

    def __call__(self, text: str) -> list[str]:
        """Tokens of one text."""
        return self.stem(self.words(text))

    def words(self, text: str) -> list[str]:
        """The folded, stopword-free words of one text before stemming (for an engine with its own stemmer)."""
        return [w for w in _WORD.findall(fold(text)) if w not in _STOP]

    def stem(self, words: list[str]) -> list[str]:
        """The stems of ``words``, one each."""
        return self._stemmer.stemWords(words)  # type: ignore[no-any-return]


def squash(text: str) -> str:
    """Whitespace runs → one space (titles, contexts, labels; passage text is never altered)."""
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    """``text`` as it is, or cut at its last space before ``limit`` with " …" when longer.

    Line breaks survive: for text whose layout matters (a passage in a prompt, keeping its lines),
    and for text already squashed (a stored context, which must stay byte for byte what it was).
    """
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def shorten(text: str, limit: int) -> str:
    """``text`` squashed, and cut at the last word boundary before ``limit`` with " …" when longer."""
    return cut(squash(text), limit)
