"""Citations: find ``[n]`` markers, and check each against the passage it points at.

A cited sentence is supported by a passage when enough of its content words (stemmed,
accent-folded, stopwords removed) occur in that passage. An unsupported marker is re-pointed
to the retrieved passage that does support the sentence; failing that it stays visible as
unverified and the sentence is flagged. A marker outside the retrieved passages is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.sentences import is_abbreviation
from values.text import Tokenizer, squash

MARKER = re.compile(r"\[(\d{1,2})\]")
_MARKER_LIST = re.compile(r"\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})+)\]")
_MARKER_TEXT = re.compile(r"\[\d{1,2}\]")
_MARKER_AFTER_END = re.compile(r"([.!?])((?:\s*\[\d{1,2}\])+)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.!?,;:])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9À-ÖØ-Þ\"'“(])|(?<=\d\])\s+(?=[A-ZÀ-ÖØ-Þ])|\n{2,}")
UNSUPPORTED = "⚠"
# calibrated on the dev set by benchmarks/calibrate_citations.py: every true gold sentence kept, 0.1% of
# other documents' passages and 4.9% of the same document's other answers accepted (figures there)
SUPPORT_THRESHOLD = 0.5


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
        word = re.search(r"(\S+)\.$", text[at:match.start()])
        if word and is_abbreviation(word.group(1)):
            continue  # "nr. 295": the sentence goes on
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
    """One answer sentence with its markers after checking.

    ``cited`` are passages (1-based) that support the sentence: kept or re-pointed markers.
    ``unverified`` are in-range markers kept visible although no passage supported the sentence.
    ``dropped`` are markers that pointed outside the retrieved passages; ``markers`` are all
    markers as the answer wrote them.
    """

    text: str
    cited: tuple[int, ...]
    verified: bool
    unverified: tuple[int, ...] = ()
    dropped: tuple[int, ...] = ()
    repointed: bool = False
    claim: bool = True
    new_line: bool = False
    markers: tuple[int, ...] = ()

    @property
    def flagged(self) -> bool:
        """Whether the sentence states something no cited passage supports."""
        return self.claim and not self.verified


class CitationChecker:
    """Checks ``[n]`` markers against passages by content-word support.

    Its threshold, ``SUPPORT_THRESHOLD``, is calibrated by ``benchmarks/calibrate_citations.py``.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenize = tokenizer
        self.threshold = SUPPORT_THRESHOLD

    def support(self, sentence: str, passage: str) -> float:
        """Share of the sentence's content words found in the passage.

        A sentence without content words ("1. [1]") is supported by nothing: 0.0, never 1.0.
        """
        words = set(self.tokenize(MARKER.sub(" ", sentence)))
        if not words:
            return 0.0
        return len(words & set(self.tokenize(passage))) / len(words)

    def check(self, answer: str, passages: list[str]) -> list[CheckedSentence]:
        """Every sentence of ``answer`` with its markers verified, re-pointed, kept unverified or dropped."""
        out: list[CheckedSentence] = []
        for line_no, line in enumerate(normalise_markers(answer).splitlines()):
            for order, span in enumerate(sentences(line)):
                out.append(self._check_sentence(line[span.start:span.end], passages,
                                                new_line=bool(out) and line_no > 0 and order == 0))
        return [s for s in out if s.text]

    def _check_sentence(self, raw: str, passages: list[str], *, new_line: bool) -> CheckedSentence:
        markers = list(dict.fromkeys(int(n) for n in MARKER.findall(raw)))
        bare = _SPACE_BEFORE_PUNCT.sub(r"\1", squash(MARKER.sub(" ", raw)))
        claim = bool(self.tokenize(bare))
        in_range = [n for n in markers if 1 <= n <= len(passages)]
        dropped = tuple(n for n in markers if n not in in_range)
        good = [n for n in in_range if self.support(bare, passages[n - 1]) >= self.threshold]
        repointed = False
        if markers and not good:
            best = self.best_passage(bare, passages)
            if best is not None:
                good, repointed = [best], True
        unverified = () if good else tuple(in_range)
        return CheckedSentence(bare, tuple(good), bool(good) or not claim, unverified, dropped,
                               repointed, claim, new_line, tuple(markers))

    def best_passage(self, sentence: str, passages: list[str]) -> int | None:
        """The 1-based passage that supports ``sentence`` best, if any reaches the threshold."""
        scores = [self.support(sentence, p) for p in passages]
        best = max(range(len(scores)), key=scores.__getitem__, default=None)
        return best + 1 if best is not None and scores[best] >= self.threshold else None


def normalise_markers(text: str) -> str:
    """``[1, 2]`` → ``[1][2]``; ``claim. [1]`` → ``claim [1].`` so a marker stays with its sentence."""
    text = _MARKER_LIST.sub(lambda m: "".join(f"[{n}]" for n in re.findall(r"\d+", m.group(1))), text)
    return _MARKER_AFTER_END.sub(lambda m: " " + "".join(_MARKER_TEXT.findall(m.group(2))) + m.group(1), text)


def cited_markers(checked: list[CheckedSentence]) -> list[tuple[int, bool]]:
    """Each passage number the checked answer shows, in order, with whether it supports some sentence."""
    seen: dict[int, bool] = {}
    for s in checked:
        for n in s.cited:
            seen[n] = True
        for n in s.unverified:
            seen.setdefault(n, False)
    return list(seen.items())


def render(checked: list[CheckedSentence]) -> str:
    """The answer text with checked markers; a claim no cited passage supports is flagged with ⚠."""
    out = ""
    for s in checked:
        piece = s.text
        markers = "".join(f"[{n}]" for n in s.cited + s.unverified)
        if markers:
            piece += " " + markers
        if s.flagged:
            piece += f" {UNSUPPORTED}"
        out += ("\n" if s.new_line else " " if out else "") + piece
    return out
