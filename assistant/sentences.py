r"""Sentences as a reader sees them, over text whose lines were wrapped, with exact offsets.

Loaded text keeps the file's line breaks: a .txt wrapped at 90 columns, a PDF page with a blank
line in the middle of a sentence ("wordt vergoed in\n\nfunctie van…"), a word hyphenated at a
line end. A line break continues the sentence unless the text says otherwise: the line before
ends a sentence, the next line starts a list item or a table row, or the line stands alone as a
heading. Each segment keeps its ``[start, end)`` in the original text, and a ``kind``:

- ``sentence``: a whole sentence (or a list item) that ends as sentences end;
- ``heading``: a short line standing alone without closing punctuation;
- ``row``: a table row (cells joined by `` | ``, as the loaders write them);
- ``question``: a sentence that asks ("Hoe vind ik één pakket?"): an FAQ's heading, the question
  a document answers after it, never an answer itself;
- ``fragment``: the passage's text stops in the middle of it (a chunk cut mid-sentence).

Only sentences are ever quoted as an answer: never a question, a fragment, a heading or a table dump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from values.text import squash

_LINE = re.compile(r"[^\n]*")
_TERMINAL = re.compile(r"[.!?…:;][\"'”’»)\]]*\s*$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}(?:[-–]\d{1,3})?[.)]\s|[a-zA-Z][.)]\s|[-*•–·]\s|\(\w{1,3}\)\s)")
_BARE_NUMBER = re.compile(r"^\s*\d{1,3}(?:[-–]\d{1,3})?\s")  # "1-2 Uit de contacten": a marker after a stop
_ROW = re.compile(r" \| |^\s*\|")
# a sentence ends at . ! ? … (and closing quotes/brackets) followed by space and an opening
_BREAK = re.compile(r"([.!?…][\"'”’»)\]]*)(\s+)(?=[\"'“‘«(\[]?[A-ZÀ-ÖØ-Þ0-9])")
ABBREVIATIONS = frozenset(
    "nr nrs art artt blz bijv bv bvb bijlage dhr mevr mr mw dr drs ir ing prof st sr jr vs viz "
    "ca cf co corp inc ltd fig figs eq no vol pp p e.g i.e o.a m.a.w m.b.t t.a.v i.v.m "
    "resp jan feb mrt apr jun jul aug sep sept okt oct nov dec ed eds min max approx al".split())
_STOP_END = frozenset(
    "de het een en of in op van voor met aan bij tot door als dat die om te naar uit over the a an "
    "and or of to in on for with at by from as that which is are was".split())
_HEADING_CHARS = 90
_LINE_BLOCK_TYPES = frozenset({"html", "docx"})
_ASKS = re.compile(r"\?[\"'”’»)\]]*$")
_MD_HEADING = re.compile(r"^#{1,6}\s")
_UNDERLINE = re.compile(r"^(?:={3,}|-{3,})\s*$")


@dataclass(frozen=True)
class Segment:
    """``text[start:end]`` of the segmented text; ``words`` is how a reader sees it, on one line."""

    start: int
    end: int
    kind: str
    words: str

    @property
    def is_sentence(self) -> bool:
        """Whether this is a whole sentence that may be quoted as an answer."""
        return self.kind == "sentence"


def segment(text: str, line_blocks: bool = False) -> list[Segment]:
    """The segments of ``text`` in order; between them lie only whitespace and item numbers ("3. ").

    ``line_blocks``: the text has one line per block (the .html and .docx loaders write it
    so), so a line never wraps into the next one and a short line without closing punctuation
    is a heading or a label ("Hoofdstuk 2. apt-get", a navigation row), never part of a sentence.
    """
    out: list[Segment] = []
    for start, end, kind in _blocks(text, line_blocks):
        if kind == "text":
            out += _split(text, start, end)
        else:
            out.append(Segment(start, end, kind, _reader(text[start:end])))
    if out and out[-1].kind == "sentence" and _cut_off(text[out[-1].start:out[-1].end]):
        last = out[-1]
        out[-1] = Segment(last.start, last.end, "fragment", last.words)
    return out


def lines_are_blocks(doc_type: str) -> bool:
    """Whether the loader of ``doc_type`` writes one line per block (.html, .docx; see ``segment``)."""
    return doc_type in _LINE_BLOCK_TYPES


def _cut_off(sentence: str) -> bool:
    """Whether a text's last sentence visibly stops mid-way ("… en de", "… zoals,").

    Many documents end a paragraph without a full stop (a label, a table caption, a list item),
    so a missing full stop alone does not make a fragment; a dangling word or comma does.
    """
    if _SENTENCE_END.search(sentence) or _LIST_ITEM.match(sentence):
        return False
    last = sentence.rstrip().rsplit(None, 1)[-1].lower()
    return last in _STOP_END or last.endswith((",", "-", "(", ";")) or not sentence[:1].isupper() \
        and not sentence[:1].isdigit()


def is_abbreviation(token: str) -> bool:
    """Whether a word followed by a full stop ("nr", "A", "o.a") does not end a sentence."""
    token = token.lower().lstrip("(\"'“‘[").rstrip(".")
    return token in ABBREVIATIONS or len(token) == 1 and token.isalpha()


def _lines(text: str) -> list[tuple[int, int]]:
    """Non-blank lines as (start, end) spans, trimmed of surrounding whitespace."""
    spans = []
    for m in _LINE.finditer(text):
        line = m.group(0)
        if line.strip():
            lead = len(line) - len(line.lstrip())
            spans.append((m.start() + lead, m.start() + len(line.rstrip())))
    return spans


def _blocks(text: str, line_blocks: bool = False) -> list[tuple[int, int, str]]:
    """Runs of lines that belong together: ``text`` paragraphs, ``heading`` and ``row`` lines."""
    lines = _lines(text)
    blocks: list[tuple[int, int, str]] = []
    for i, (start, end) in enumerate(lines):
        line = text[start:end]
        nxt = text[lines[i + 1][0]:lines[i + 1][1]] if i + 1 < len(lines) else ""
        if _MD_HEADING.match(line) or _UNDERLINE.match(line) or _UNDERLINE.match(nxt):
            blocks.append((start, end, "heading"))  # "# Title", or "Title" over "=====" / "-----"
            continue
        if line_blocks:
            short = len(line) <= _HEADING_CHARS and not _TERMINAL.search(line) and not _LIST_ITEM.match(line)
            blocks.append((start, end, "row" if _ROW.search(line) else "heading" if short else "text"))
            continue
        before = text[lines[i - 1][1]:start] if i else "\n\n"
        after = text[end:lines[i + 1][0]] if i + 1 < len(lines) else "\n\n"
        previous = text[lines[i - 1][0]:lines[i - 1][1]] if i else ""
        if _ROW.search(line):
            blocks.append((start, end, "row"))
        elif _is_heading(line, previous, before, after, nxt):
            blocks.append((start, end, "heading"))
        elif blocks and blocks[-1][2] == "text" and _continues(text[blocks[-1][0]:blocks[-1][1]], before, line):
            blocks[-1] = (blocks[-1][0], end, "text")
        else:
            blocks.append((start, end, "text"))
    return blocks


def _continues(paragraph: str, gap: str, line: str) -> bool:
    """Whether ``line`` carries on ``paragraph`` across the whitespace ``gap``."""
    last = paragraph.rsplit("\n", 1)[-1]
    if _LIST_ITEM.match(line) or (_BARE_NUMBER.match(line) and (_TERMINAL.search(last) or "\n\n" in gap)):
        return False
    if _TERMINAL.search(last):
        # a sentence ended at the line end: the next line joins the paragraph only if no blank line
        return gap.count("\n") < 2 and not last.rstrip().endswith(":")
    # no closing punctuation: a wrapped line, even across a blank line (PDF extraction)
    starts_lower = line[:1].islower() or line[:1] in ",;)"
    return starts_lower or gap.count("\n") < 2 or last.rsplit(" ", 1)[-1].lower() in _STOP_END


def _is_heading(line: str, previous: str, before: str, after: str, nxt: str) -> bool:
    """A short line standing alone, not ending as a sentence or a wrapped line would."""
    if len(line) > _HEADING_CHARS or _TERMINAL.search(line) or line.endswith((",", "-", "(")):
        return False
    if line.rsplit(" ", 1)[-1].lower() in _STOP_END or nxt[:1].islower():
        return False
    alone_before = "\n\n" in before or bool(_TERMINAL.search(previous)) or not previous
    alone_after = "\n\n" in after or not nxt
    return alone_before and (alone_after or len(line) < 0.6 * len(nxt))


def _split(text: str, start: int, end: int) -> list[Segment]:
    """The sentences of one paragraph ``text[start:end]``."""
    out: list[Segment] = []
    para = text[start:end]
    at = 0
    for m in _BREAK.finditer(para):
        head = para[at:m.end(1)]
        word = re.search(r"(\S+)$", para[at:m.start(1)])
        token = word.group(1) if word else ""
        if m.group(1).startswith(".") and is_abbreviation(token):
            continue  # "nr. 295", "A. Jansen": not a sentence end
        if re.fullmatch(r"\(?[\d\w]{1,3}(?:[-–]\d{1,3})?[.)]", head.strip()):
            continue  # a list marker such as "3." or "1-2." on its own
        out.append(_segment(text, start + at, start + m.end(1)))
        at = m.end()
    if para[at:].strip():
        out.append(_segment(text, start + at, end))
    return out


_MARKER = re.compile(r"(?:(?:\d{1,3}[.)]|\d{1,3}[-–]\d{1,3}[.)]?|[a-z][.)]|\(\w{1,3}\)|\[\d{1,3}\])\s+)+"
                     r"(?=[\"“(]?[A-ZÀ-ÖØ-Þ])")  # "3. ", "1-2 ", "1. a) ", "[1] " before a sentence
_FOOTNOTE = re.compile(r"\s*\[\d{1,3}\]")  # "[6]" in a document is a footnote; in an answer it would cite


def _segment(text: str, start: int, end: int) -> Segment:
    while start < end and text[start].isspace():
        start += 1
    marker = _MARKER.match(text, start, end)
    if marker and marker.end() < end:  # "3. De spreker …": the item number is no part of the sentence
        start = marker.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    words = _reader(text[start:end])
    return Segment(start, end, "question" if _ASKS.search(words) else "sentence", words)


def _reader(raw: str) -> str:
    r"""The span on one line: hyphenation joined ("ver-\nvolg" → "vervolg"), "[6]" dropped, spaces squashed."""
    joined = re.sub(r"(\w)-\s*\n\s*(?=[a-zà-ÿ])", r"\1", raw)
    return squash(_FOOTNOTE.sub("", joined))
