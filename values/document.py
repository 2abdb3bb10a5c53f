"""An indexed document as the catalog records it: what the page lists and scopes by."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from values.passage import Passage


@dataclass(frozen=True)
class DocumentRecord:
    """One indexed document as the catalog knows it."""

    source: str
    content_hash: str
    title: str
    doc_type: str
    encoding: str | None
    size: int
    mtime: float
    passages: int
    ingested_at: float
    date: str | None = None  # ISO date, month or year the document states (ingest.metadata)

    @property
    def year(self) -> int | None:
        """The year the document states, or None."""
        return int(self.date[:4]) if self.date else None


@dataclass(frozen=True)
class StoredPassage:
    """A passage row: the passage plus whether it has a dense vector and its answer redirect."""

    passage: Passage
    passage_id: str
    ord: int
    dense: bool
    answer_id: str | None


@dataclass(frozen=True)
class OpenedDocument:
    """An indexed document opened for reading: its text as ingest loaded it, and its passages.

    Passage offsets index into ``text``; ``page_starts`` are the offsets where pages begin (PDF).
    """

    record: DocumentRecord
    text: str
    passages: tuple[Passage, ...]
    page_starts: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding ``offset``, or None for a document without pages."""
        return page_at(self.page_starts, offset)


def page_at(page_starts: tuple[int, ...], offset: int) -> int | None:
    r"""1-based page holding ``offset``, or None for documents without pages.

    An offset in the ``"\n\n"`` between two pages belongs to the earlier page; an offset past
    the end belongs to the last page. A negative offset is a caller bug and raises ValueError.
    """
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if not page_starts:
        return None
    return bisect_right(page_starts, offset)
