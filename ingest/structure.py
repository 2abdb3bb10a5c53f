"""Document structure: question and answer parts, numbered items, and their pairing.

Parliamentary written questions (and many Q&A documents) number their sub-questions in the
question part and answer them with the same numbers in the answer part. Finding both runs lets
an answer passage carry its own sub-question as context, so that a user's question, which
resembles the sub-question, retrieves the answer rather than the question's echo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUESTION_MARK = re.compile(
    r"^[ \t]*(?:VRAAG|VRAGEN|Vraag|Vragen|QUESTIONS?|Questions?)[ \t]*:?[ \t]*$", re.M
)
_ANSWER_MARK = re.compile(
    r"^[ \t]*(?:ANTWOORD(?:EN)?|Antwoord(?:en)?|ANSWERS?|Answers?)[ \t]*:?[ \t]*$", re.M
)
# "3. tekst", "3) tekst", "1-2 tekst", "1 en 2. tekst", "Vraag 3", "Antwoord op vraag 3:"
_ITEM = re.compile(
    r"^[ \t]*(?:(?:Vraag|Antwoord(?: op vraag)?|Question|Answer)[ \t]+(?:nr\.?[ \t]*)?)?"
    r"(?P<first>\d{1,2})(?:[ \t]*(?:-|–|en|and|tot|to)[ \t]*(?P<last>\d{1,2}))?"
    r"(?:[ \t]*[.):](?!\d)|(?=[ \t]+\S))",
    re.M,
)


@dataclass(frozen=True)
class Item:
    """A numbered item ``text[start:end]`` covering sub-question numbers ``first..last``."""

    start: int
    end: int
    first: int
    last: int

    @property
    def label(self) -> str:
        """"3" or "1-2"."""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Part:
    """A question or answer part: its span, the text before its first item, and its items."""

    kind: str
    start: int
    end: int
    items: tuple[Item, ...]

    @property
    def preamble_end(self) -> int:
        """End of the text before the first numbered item (the part's end when unnumbered)."""
        return self.items[0].start if self.items else self.end


@dataclass(frozen=True)
class QAStructure:
    """Header, question part and answer part of a Q&A document."""

    header_end: int
    question: Part
    answer: Part

    def question_for(self, item: Item) -> list[Item]:
        """The question items whose numbers an answer item covers."""
        return [q for q in self.question.items if item.first <= q.first <= item.last]


def numbered_items(text: str, start: int, end: int) -> tuple[Item, ...]:
    """The in-order run 1, 2, 3… of line-initial numbers in ``text[start:end]``.

    Numbers that break the run (a nested list restarting at 1, a year) are left inside the
    current item, so an item keeps all its text.
    """
    found: list[tuple[int, int, int]] = []
    expected = 1
    for match in _ITEM.finditer(text, start, end):
        first = int(match.group("first"))
        last = int(match.group("last") or first)
        if first == expected and last >= first:
            found.append((match.start() + len(match.group(0)) - len(match.group(0).lstrip()), first, last))
            expected = last + 1
    if len(found) < 2 and not (found and found[0][2] > found[0][1]):
        return ()
    items = []
    for index, (item_start, first, last) in enumerate(found):
        item_end = found[index + 1][0] if index + 1 < len(found) else end
        items.append(Item(item_start, _rstrip(text, item_start, item_end), first, last))
    return tuple(items)


def find_qa(text: str) -> QAStructure | None:
    """Find the question and answer parts, or None when the document has no answer marker."""
    answer_mark = _ANSWER_MARK.search(text)
    if answer_mark is None:
        return None
    question_mark = _QUESTION_MARK.search(text, 0, answer_mark.start())
    if question_mark is not None:
        header_end, question_start = question_mark.start(), question_mark.end()
    else:
        first_line_end = text.find("\n")
        header_end = question_start = first_line_end if 0 <= first_line_end < answer_mark.start() else 0
    answer_start = answer_mark.end()
    question_end = _rstrip(text, question_start, answer_mark.start())
    answer_end = _rstrip(text, answer_start, len(text))
    question = Part("question", question_start, question_end,
                    numbered_items(text, question_start, question_end))
    answer = Part("answer", answer_start, answer_end, numbered_items(text, answer_start, answer_end))
    return QAStructure(header_end, question, answer)


def _rstrip(text: str, start: int, end: int) -> int:
    """``end`` moved back over trailing whitespace, never before ``start``."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return end
