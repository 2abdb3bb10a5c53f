"""The catalog interface: what is indexed (documents, passages, settings, runs) and the writer lock.

The catalog is the source of truth for what a reader may see: a document's passages become
visible in the transaction that records the document, so a reader never sees half a document.
``vectorstore.sqlite_catalog.SqliteCatalog`` is the embedded implementation and
``vectorstore.sql_catalog.SqlCatalog`` the shared one (PostgreSQL); ``ingest/`` and ``assistant/``
see neither, only ``PassageIndex``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from values.document import DocumentRecord, StoredPassage


class CatalogWrite(Protocol):
    """The writes one catalog transaction can make; all become visible at its commit, or none."""

    def replace_document(self, record: DocumentRecord, rows: Iterable[StoredPassage]) -> None:
        """Drop the document's old passages, write the new ones."""

    def remove_document(self, source: str) -> None:
        """Forget a document and its passages."""

    def move_document(self, old: str, new: str, mtime: float, new_ids: Mapping[str, str]) -> None:
        """Re-point a renamed document; its passages take the ids ``new_ids`` maps them to."""

    def set_dates(self, dates: Mapping[str, str | None]) -> None:
        """Record the dates documents state."""


class Catalog(Protocol):
    """What the index needs of a catalog: versioned reads, atomic writes, meta values, run history."""

    @property
    def version(self) -> int:
        """Increases with every committed change; readers compare it to refresh caches."""

    def writer_lock(self, wait: bool = True) -> AbstractContextManager[None]:
        """Serialise writers across processes; StoreError when ``wait`` is False and one is running."""

    def transaction(self) -> AbstractContextManager[CatalogWrite]:
        """One atomic write that bumps the version."""

    def snapshot(self) -> AbstractContextManager[None]:
        """A read transaction: every read inside sees one committed state."""

    def get_meta(self, key: str) -> str | None:
        """A stored value, or None."""

    def set_meta(self, key: str, value: str) -> None:
        """Store a value (outside a transaction: at once)."""

    def documents(self) -> Mapping[str, DocumentRecord]:
        """Every indexed document by source: read-only, read once per version and the same object until a commit.

        Readers may key what they derive from it on its identity (``assistant.scope.ScopeIndex``);
        inside ``transaction`` it is read afresh (the transaction's own writes show).
        """

    def document_count(self) -> int:
        """How many documents are indexed."""

    def passage_count(self) -> int:
        """How many passages are indexed."""

    def passage_ids(self, source: str | None = None, dense_only: bool = False) -> set[str]:
        """Ids of all passages, or one document's; ``dense_only``: those with a vector."""

    def passages_by_id(self, ids: Iterable[str]) -> dict[str, StoredPassage]:
        """Rows for the given ids; ids that are not (or no longer) indexed are absent."""

    def dense_ids_of(self, sources: Iterable[str]) -> dict[str, str]:
        """The passages with a vector of many documents at once: passage id -> source."""

    def passages_of(self, source: str) -> list[StoredPassage]:
        """One document's passages in order."""

    def keyword_rows(self) -> list[tuple[str, str, str]]:
        """(id, source, text to index) for every passage, in a stable order."""

    def record_run(self, started_at: float, seconds: float, report: dict[str, object],
                   settings: dict[str, object]) -> None:
        """Append one ingest run to the history."""

    def last_runs(self, limit: int = 5) -> list[dict[str, object]]:
        """The most recent ingest runs, newest first."""

    def close(self) -> None:
        """Release connections."""
