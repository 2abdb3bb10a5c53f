"""Citations: find ``[n]`` markers, and check each against the passage it points at.

A cited sentence is supported by a passage when enough of its content words (stemmed,
accent-folded, stopwords removed) occur in that passage. An unsupported marker is re-pointed
to the retrieved passage that does support the sentence, or dropped and the sentence flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vectorstore.keyword import Tokenizer

MARKER = re.compile(r"\[(\d{1,2})\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9À-ÖØ-Þ\"'“(])|\n{2,}")
UNSUPPORTED = "⚠"


@dataclass(frozen=True)
class Span:
    """A sentence ``text[start:end]`` of some text."""

    start: int
    end: int


def sentences(text: str) -> list[Span]:
    """Sentence spans of ``text``, whitespace-trimmed; never empty spans."""
    spans: list[Span] = []
    at = 0
    for match in _SENTENCE_END.finditer(text):
        spans += _trimmed(text, at, match.start())
        at = match.end()
    spans += _trimmed(text, at, len(text))
    return spans


def _trimmed(text: str, start: int, end: int) -> list[Span]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [Span(start, end)] if end > start else []


@dataclass(frozen=True)
class CheckedSentence:
    """One answer sentence with the passages (1-based) it cites after checking."""

    text: str
    cited: tuple[int, ...]
    verified: bool


class CitationChecker:
    """Checks ``[n]`` markers against passages by content-word support."""

    def __init__(self, tokenizer: Tokenizer, threshold: float = 0.5) -> None:
        self.tokenize = tokenizer
        self.threshold = threshold

    def support(self, sentence: str, passage: str) -> float:
        """Share of the sentence's content words found in the passage (1.0 for no content words)."""
        words = set(self.tokenize(MARKER.sub(" ", sentence)))
        if not words:
            return 1.0
        return len(words & set(self.tokenize(passage))) / len(words)

    def check(self, answer: str, passages: list[str]) -> list[CheckedSentence]:
        """Every sentence of ``answer`` with its markers verified, re-pointed or dropped."""
        out: list[CheckedSentence] = []
        for span in sentences(answer):
            raw = answer[span.start:span.end]
            cited = [int(n) for n in MARKER.findall(raw)]
            bare = MARKER.sub("", raw).strip()
            if not cited:
                out.append(CheckedSentence(bare, (), False))
                continue
            good = [n for n in dict.fromkeys(cited) if 1 <= n <= len(passages)
                    and self.support(bare, passages[n - 1]) >= self.threshold]
            if not good:
                scores = [self.support(bare, p) for p in passages]
                best = max(range(len(scores)), key=scores.__getitem__, default=None)
                if best is not None and scores[best] >= self.threshold:
                    good = [best + 1]
            out.append(CheckedSentence(bare, tuple(good), bool(good)))
        return out


def render(checked: list[CheckedSentence]) -> str:
    """The answer text with checked markers; an unsupported cited claim is flagged visibly."""
    parts = []
    for s in checked:
        if s.cited:
            parts.append(s.text + " " + "".join(f"[{n}]" for n in s.cited))
        elif s.verified is False and s.text:
            parts.append(f"{s.text} {UNSUPPORTED}")
    return " ".join(parts)
