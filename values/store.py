"""The interface the ingest side writes through; ``vectorstore.index.PassageIndex`` implements it.

It lives at the bottom so that ``ingest/`` and ``vectorstore/`` stay side by side: the pipeline
decides what to write, the store owns how (the crash-safe write protocol, the writer lock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from values.document import DocumentRecord
from values.passage import Passage


class DocumentStore(Protocol):
    """Documents in, documents out: what an ingest run needs of the index."""

    def writing(self, wait: bool = True) -> AbstractContextManager[None]:
        """Hold the writer lock for one run; StoreError when ``wait`` is False and another runs."""

    def prepare(self, rebuild: bool = False) -> None:
        """Fit the index to the configured settings; forget documents a crash left incomplete."""

    def documents(self) -> Mapping[str, DocumentRecord]:
        """Every indexed document by source (read-only; the same object until the next commit)."""

    def passage_count(self) -> int:
        """How many passages are indexed."""

    def folders(self) -> dict[str, list[str]]:
        """The folders documents were ingested from, with their exclude patterns."""

    def set_folders(self, folders: Mapping[str, Sequence[str]]) -> None:
        """Record the folders documents were ingested from."""

    def get_meta(self, key: str) -> str | None:
        """A value stored with the index, or None."""

    def set_meta(self, key: str, value: str) -> None:
        """Store a value with the index."""

    @property
    def keyword_only(self) -> frozenset[str]:
        """Passage kinds found by keyword only, never embedded."""

    def write(self, documents: Sequence[tuple[DocumentRecord, Sequence[Passage]]],
              vectors: Mapping[str, Sequence[float]] | None = None) -> int:
        """Add or replace documents atomically; return how many passages were embedded.

        ``vectors`` (by passage id) were computed elsewhere, by the same embedder: written as they are.
        """

    def rename(self, old: str, new: str, mtime: float) -> None:
        """Re-point a moved document without embedding it again."""

    def remove(self, sources: Sequence[str]) -> int:
        """Forget documents; return how many were indexed."""

    def set_dates(self, dates: Mapping[str, str | None]) -> None:
        """Record the dates documents state."""

    def record_run(self, started_at: float, seconds: float, report: dict[str, object]) -> None:
        """Append one ingest run to the history."""
