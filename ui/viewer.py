"""Open an indexed document for the side panel: its text as indexed, the span to mark, the neighbours."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ui.format import DocumentView, panel_html, panel_message
from ui.i18n import t
from values.document import OpenedDocument
from values.errors import IngestError
from values.passage import Passage

Target = tuple[str, object, object, object]
"""(source, start, end, quotes): what a click opens; quotes is "a-b,c-d", the sentences the answer took."""


def clicked(evt: Any) -> tuple[str, Target]:
    """The action and target that a click in a gr.HTML carried (see ``ui.assets.CLICK_JS``)."""
    return (str(getattr(evt, "action", "") or ""),
            (str(getattr(evt, "source", "") or ""), getattr(evt, "start", None), getattr(evt, "end", None),
             getattr(evt, "quotes", None)))


def parse_quotes(value: object) -> tuple[tuple[int, int], ...]:
    """The spans of a ``data-quotes`` value ("a-b,c-d"); anything malformed is left out."""
    spans = []
    for part in str(value or "").split(","):
        lo, _, hi = part.partition("-")
        a, b = _int(lo), _int(hi)
        if a is not None and b is not None and 0 <= a < b:
            spans.append((a, b))
    return tuple(spans)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None  # no span: the document is opened as a whole


def neighbours(passages: Sequence[Passage], start: int) -> tuple[Passage | None, Passage | None]:
    """The passages that begin just before and just after ``start`` in the text."""
    before = [p for p in passages if p.start < start]
    after = [p for p in passages if p.start > start]
    previous = max(before, key=lambda p: (p.start, p.end), default=None)
    following = min(after, key=lambda p: (p.start, p.end), default=None)
    return previous, following


def document_view(doc: OpenedDocument, start: object = None, end: object = None,
                  quotes: object = None) -> DocumentView:
    """The panel's view of an opened document with ``[start, end)`` marked.

    The text is the one ingest loaded, so passage offsets index into it; a span that no longer
    fits (the file changed since it was indexed) is dropped rather than marking wrong text.
    """
    source, title, text = doc.record.source, doc.record.title, doc.text
    lo, hi = _int(start), _int(end)
    if lo is None or hi is None or not 0 <= lo <= hi <= len(text):
        return DocumentView(source, title, text)
    passage = next((p for p in doc.passages if p.start == lo and p.end == hi), None)
    if passage is not None and text[lo:hi] != passage.text:
        return DocumentView(source, title, text)
    previous, following = neighbours(doc.passages, lo)
    inside = tuple((a, b) for a, b in parse_quotes(quotes) if lo <= a < b <= hi)
    return DocumentView(source, title, text, lo, hi, doc.page_at(lo), previous, following, passage, inside)


def render_panel(open_document: Callable[[str], OpenedDocument], source: str, start: object, end: object,
                 language: str, quotes: object = None) -> str:
    """The panel HTML for one click, or a message saying why the document cannot be shown.

    ``open_document`` is ``Assistant.open_document``: LookupError when ``source`` is not indexed,
    IngestError when its file cannot be read now.
    """
    try:
        return panel_html(document_view(open_document(source), start, end, quotes), language)
    except LookupError:
        return panel_message(t(language, "not_indexed", source=source), language)
    except IngestError as e:
        return panel_message(t(language, "not_readable", reason=str(e)), language)
