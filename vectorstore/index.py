"""The passage index: catalog + Chroma + keyword index behind one interface, written in step.

It owns the crash-safe write protocol: vectors first, then one catalog transaction, then the
replaced vectors go. A crash at any point leaves only orphan vectors (swept on the next write)
or documents some of whose vectors are missing (forgotten and indexed again), never a document
that readers see half. Nothing outside ``vectorstore/`` touches the catalog, Chroma or BM25.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from chromadb.errors import InternalError, NotFoundError

from values.document import DocumentRecord, StoredPassage
from values.errors import StoreError
from values.passage import Passage
from vectorstore.catalog import Catalog
from vectorstore.chroma import DenseHit, DenseStore
from vectorstore.keyword_leg import KeywordHit, KeywordLeg
from vectorstore.partitions import PartitionedDenseStore

Dense = DenseStore | PartitionedDenseStore  # one collection, or one per document year (``dense_partition``)

_QA_KEYWORD_ONLY = frozenset({"question", "header"})  # parts found by keyword only, unless embedded on request
_FOLDERS = "folders"
_SETTINGS = "settings"
_WRITER = "writer"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the disk or quota is full, in any store's words."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in _NO_SPACE:
            return True
        if isinstance(error, (sqlite3.OperationalError, InternalError)) and "disk is full" in str(error):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


@dataclass(frozen=True)
class IndexSettings:
    """What an index is built with; a change means a rebuild, never a mix of two."""

    embedder: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    structure: bool
    embed_question_parts: bool
    chunker_version: int = 3
    dense_partition: str = "none"  # an index built before this setting existed had one collection

    def to_json(self) -> str:
        """Stable serialisation for the catalog."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Resolved:
    """Catalog rows for retrieved ids, with the answer passages they redirect to, from one committed state."""

    version: int
    rows: dict[str, StoredPassage]


@dataclass(frozen=True)
class Candidates:
    """Each retrieval leg's ranked passages, all of them the catalog's, with their rows from one committed state."""

    dense: list[DenseHit]
    keyword: list[KeywordHit]
    resolved: Resolved


class PassageIndex:
    """Everything a data dir (or a shared deployment) holds: open it once, read it from any thread.

    Writers hold ``writing()``; it serialises them across processes and keeps the keyword index
    and this process's view of Chroma in step when it ends.
    """

    def __init__(self, catalog: Catalog, dense: Dense, keyword: KeywordLeg, settings: IndexSettings,
                 location: str) -> None:
        self._catalog = catalog
        self._dense = dense
        self._keyword = keyword
        self.settings = settings
        self.location = location  # where the index lives, for messages and ``status``
        self._lock = threading.RLock()
        self._writing = 0
        self._clean_before = False
        self._dense_version = catalog.version

    # -- reading ---------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """Increases with every committed change."""
        return self._catalog.version

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state."""
        with self._catalog.snapshot():
            yield

    def documents(self) -> Mapping[str, DocumentRecord]:
        """Every indexed document by source (read-only; the same object until the next commit)."""
        return self._catalog.documents()

    def document_count(self) -> int:
        """How many documents are indexed."""
        return self._catalog.document_count()

    def passage_count(self) -> int:
        """How many passages are indexed."""
        return self._catalog.passage_count()

    def vector_count(self) -> int:
        """How many vectors the dense leg holds (equal to the embedded passages after a clean write)."""
        return self._fresh_dense().count()

    def passages_of(self, source: str) -> list[StoredPassage]:
        """One document's passages in order."""
        return self._catalog.passages_of(source)

    def folders(self) -> dict[str, list[str]]:
        """The folders documents were ingested from, with the exclude patterns each was given with."""
        raw = self._catalog.get_meta(_FOLDERS)
        return {str(f): list(p) for f, p in json.loads(raw).items()} if raw else {}

    def last_runs(self, limit: int = 5) -> list[dict[str, object]]:
        """The most recent ingest runs, newest first."""
        return self._catalog.last_runs(limit)

    def get_meta(self, key: str) -> str | None:
        """A value stored with the index (calibration, metadata rules version), or None."""
        return self._catalog.get_meta(key)

    @property
    def built_with(self) -> IndexSettings | None:
        """The settings the stored index was built with (None for a new index)."""
        raw = self._catalog.get_meta(_SETTINGS)
        return None if raw is None else IndexSettings(**json.loads(raw))

    def settings_changed(self) -> bool:
        """True when the stored index was built with other settings than the configured ones."""
        built = self.built_with
        return built is not None and self._catalog.document_count() > 0 and built != self.settings

    def check_readable(self) -> None:
        """Raise StoreError when the index is empty or asking would mix embedders or settings."""
        if self._catalog.document_count() == 0:
            raise StoreError(f"the index in {self.location} is empty: add documents with `vraagbaak ingest PATH`")
        self._dense.check()
        self._dense.ping()
        if self.settings_changed():
            raise StoreError(
                f"the index in {self.location} was built with other settings ({self.built_with}); "
                f"now configured: {self.settings}. Run `vraagbaak ingest PATH` to rebuild it."
            )

    def search_dense(self, vector: list[float], k: int, sources: Sequence[str] | None = None) -> list[DenseHit]:
        """The ``k`` passages nearest to ``vector``, optionally only from ``sources``.

        Another process may write vectors between two catalog commits, where the version check
        cannot tell: a stale embedded view fails ("Error finding id") and is re-read once.
        """
        scope = list(sources) if sources else None
        dense = self._fresh_dense()
        try:
            return dense.search(vector, k, scope)
        except (InternalError, NotFoundError):
            if self._writing or not dense.embedded:
                raise
            with self._lock:
                dense.reopen()
            return dense.search(vector, k, scope)

    def search_keyword(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[KeywordHit]:
        """The ``k`` best keyword matches, optionally only from ``sources``."""
        return self._keyword.search(query, k, list(sources) if sources else None)

    def known_share(self, query: str) -> float:
        """Share of the query's words that the keyword index has seen (0 for another language)."""
        return self._keyword.known_share(query)

    def resolve(self, ids: Sequence[str]) -> Resolved:
        """The rows of ``ids`` and of the answer passages they point to, from one committed state.

        Ids written by an unfinished ingest, or just removed, are absent.
        """
        with self._catalog.snapshot():
            version = self._catalog.version
            rows = self._catalog.passages_by_id(ids)
            redirects = {r.answer_id for r in rows.values() if r.answer_id and r.answer_id not in rows}
            rows.update(self._catalog.passages_by_id(redirects))
        return Resolved(version, rows)

    def candidates(self, vector: list[float], query: str, k: int,
                   sources: Sequence[str] | None = None) -> Candidates:
        """Each leg's ``k`` best passages that the catalog holds, with their rows, from one committed state.

        Chroma also holds the vectors an ingest has written and not yet committed (and, for a moment
        after a commit, those it replaced; after a crash, orphans until the next write): ranked,
        they pushed the catalog's passages down the dense list and made the fused order at one
        version depend on an ingest in flight (two replicas answered differently, benchmarks/README.md).
        So ids the catalog does not hold are dropped before fusion, and the dense leg is asked
        twice as deep while that leaves fewer than ``k`` and it holds more. Nothing in flight costs
        nothing extra: both lists' ids are resolved in the one catalog read the hits need anyway.
        """
        keyword = self.search_keyword(query, k, sources)
        depth = k
        while True:
            dense = self.search_dense(vector, depth, sources)
            resolved = self.resolve(list(dict.fromkeys([*(h.passage_id for h in dense),
                                                        *(h.passage_id for h in keyword)])))
            known = [h for h in dense if h.passage_id in resolved.rows]
            if len(known) >= k or len(dense) < depth:
                break
            depth *= 2
        return Candidates(known[:k], [h for h in keyword if h.passage_id in resolved.rows], resolved)

    def warm_up(self) -> None:
        """Load the keyword index now rather than on the first question."""
        self._keyword.refresh()

    def _fresh_dense(self) -> Dense:
        """The Chroma leg, re-read from disk first when another process has committed since."""
        if not self._writing and self._dense.embedded:  # a server's view is never stale
            with self._lock:
                self._sync_dense()
        return self._dense

    def _sync_dense(self) -> None:
        """Re-open an embedded Chroma when the catalog moved since this process last looked (under ``_lock``)."""
        version = self._catalog.version
        if self._dense.embedded and version != self._dense_version:
            self._dense.reopen()
        self._dense_version = version

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def writing(self, wait: bool = True) -> Iterator[None]:
        """Hold the writer lock; on a clean exit the keyword index is brought in step.

        The index is "dirty" until the writer finishes: a crash in between makes the next writer
        sweep every vector instead of trusting the counts.
        """
        with self._catalog.writer_lock(wait):
            with self._lock:
                self._sync_dense()  # another process may have written while we waited
                self._writing += 1
            try:
                self._clean_before = self._catalog.get_meta(_WRITER) == "finished"
                self._catalog.set_meta(_WRITER, "dirty")
                yield
                self._keyword.refresh()  # the file it leaves is in step for every reader
                self._catalog.set_meta(_WRITER, "finished")
            except Exception as e:
                if not disk_full(e):
                    raise
                raise StoreError(
                    f"no space left on the disk of the index in {self.location} ({e}): documents committed "
                    "before it stay indexed and whole, the one being written is not; free space and run "
                    "`vraagbaak ingest` again, which repairs and carries on") from e
            finally:
                with self._lock:
                    self._writing -= 1
                    self._dense_version = self._catalog.version

    def prepare(self, rebuild: bool = False) -> None:
        """Make the index fit to write with the configured settings (under ``writing``).

        An index built by another embedder is only reset when asked (``rebuild``) or empty:
        re-embedding everything is never a side effect. Other settings reset it (a rebuild is
        the only way not to mix two). Vectors a crash left behind are swept, and a document some
        of whose vectors are gone is forgotten: the caller indexes it again.
        """
        mismatch = self._dense.mismatch
        if mismatch is not None and not rebuild and self._catalog.document_count() > 0:
            self._dense.check()
        if rebuild or mismatch is not None or self.settings_changed():
            self._reset()
        self._catalog.set_meta(_SETTINGS, self.settings.to_json())
        self.remove(sorted(self._sweep_orphans()))

    def _reset(self) -> None:
        """Drop everything; the catalog goes first, so a crash half-way leaves orphan vectors only."""
        with self._catalog.transaction() as write:
            for source in self._catalog.documents():
                write.remove_document(source)
        self._dense.reset()
        self._keyword.clear()

    def _sweep_orphans(self) -> set[str]:
        """Delete vectors no committed passage owns; return the sources missing some vector.

        Listing every vector id is the slow part of a no-op ingest; it is skipped when the last
        writer finished cleanly and the counts agree.
        """
        committed = self._catalog.passage_ids(dense_only=True)
        if self._clean_before and self._dense.count() == len(committed):
            return set()
        stored = self._dense.ids()
        self._dense.delete(sorted(stored - committed))
        missing = committed - stored
        if not missing:
            return set()
        return {row.passage.source for row in self._catalog.passages_by_id(missing).values()}

    @property
    def keyword_only(self) -> frozenset[str]:
        """Passage kinds found by keyword only, never embedded (Q&A question parts and headers, unless configured)."""
        return frozenset() if self.settings.embed_question_parts else _QA_KEYWORD_ONLY

    def write(self, documents: Sequence[tuple[DocumentRecord, Sequence[Passage]]],
              vectors: Mapping[str, Sequence[float]] | None = None) -> int:
        """Add or replace documents with their passages; return how many passages were embedded.

        Vectors first (embedded here, or ``vectors`` by passage id that a job computed with the
        same embedder), then one catalog transaction for all of them, then the vectors of the
        replaced passages go.
        """
        rows_by_doc: list[tuple[DocumentRecord, list[StoredPassage]]] = []
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, str | int]] = []
        years: list[int | None] = []
        for record, passages in documents:
            rows = []
            for order, passage in enumerate(passages):
                dense = passage.kind not in self.keyword_only
                answer_id = passage.extra.get("answer_id")
                rows.append(StoredPassage(passage, passage.passage_id, order, dense,
                                          str(answer_id) if answer_id else None))
                if dense:
                    ids.append(passage.passage_id)
                    texts.append(passage.embed_text)
                    metas.append({"source": passage.source, "kind": passage.kind})
                    years.append(record.year)
            rows_by_doc.append((record, rows))
        if vectors is None:
            self._dense.add(ids, texts, metas, years)
        else:
            missing = [i for i in ids if i not in vectors]
            if missing:
                raise StoreError(f"{len(missing)} passages to write came without their vectors "
                                 f"(e.g. {missing[0]}): nothing of this batch was written")
            if ids:
                self._dense.check()
            self._dense.add_vectors(ids, texts, [list(vectors[i]) for i in ids], metas, years)
        stale: list[str] = []
        kept: dict[str, int | None] = {}  # vectors re-added under their old ids: maybe a year's partition ago
        with self._catalog.transaction() as write:
            for record, rows in rows_by_doc:
                old = self._catalog.passage_ids(record.source)  # empty for a new document
                stale += sorted(old - {r.passage_id for r in rows})
                kept.update((r.passage_id, record.year) for r in rows if r.dense and r.passage_id in old)
                write.replace_document(record, rows)
        self._dense.delete(stale)
        self._dense.settle(kept)
        return len(ids)

    def rename(self, old: str, new: str, mtime: float) -> None:
        """Re-point a moved document without embedding it.

        Ids hash the path, so its vectors are stored again under the new ids, then the catalog
        moves, then the old vectors go (the order of ``write``: a crash leaves only orphans).
        """
        rows = self._catalog.passages_of(old)
        new_ids = {r.passage_id: replace(r.passage, source=new).passage_id for r in rows}
        dense = {r.passage_id: new_ids[r.passage_id] for r in rows if r.dense}
        self._dense.copy(dense, new)
        with self._catalog.transaction() as write:
            write.move_document(old, new, mtime, new_ids)
        self._dense.delete(sorted(dense))

    def remove(self, sources: Sequence[str]) -> int:
        """Forget documents (catalog first, then their vectors); return how many were indexed."""
        if not sources:  # the usual sweep result: no need to read every document
            return 0
        known = self._catalog.documents()
        present = [s for s in sources if s in known]
        if not present:
            return 0
        ids = [i for s in present for i in self._catalog.passage_ids(s)]
        with self._catalog.transaction() as write:
            for source in present:
                write.remove_document(source)
        self._dense.delete(ids)
        return len(present)

    def set_dates(self, dates: Mapping[str, str | None]) -> None:
        """Record the dates documents state (their metadata read again), in one transaction.

        The vectors of a document whose year changes go to that year's partition first (a
        partitioned store), then the catalog commits, then the old copies go.
        """
        if not dates:
            return
        known = self._catalog.documents()
        moved: dict[str, int | None] = {}
        for source, date in dates.items():
            record = known.get(source)
            year = int(date[:4]) if date else None
            if record is not None and record.year != year:
                moved.update(dict.fromkeys(self._catalog.passage_ids(source, dense_only=True), year))
        self._dense.place(moved)
        with self._catalog.transaction() as write:
            write.set_dates(dates)
        self._dense.settle(moved)

    def set_folders(self, folders: Mapping[str, Sequence[str]]) -> None:
        """Record the folders documents were ingested from, with their exclude patterns."""
        self._catalog.set_meta(_FOLDERS, json.dumps({f: list(p) for f, p in sorted(folders.items())}))

    def set_meta(self, key: str, value: str) -> None:
        """Store a value with the index (visible to every process at once)."""
        self._catalog.set_meta(key, value)

    def record_run(self, started_at: float, seconds: float, report: dict[str, object]) -> None:
        """Append one ingest run, with the settings it ran with, to the history."""
        self._catalog.record_run(started_at, seconds, report, asdict(self.settings))

    def close(self) -> None:
        """Release the catalog's connections and the dense leg's search threads."""
        self._dense.close()
        self._catalog.close()
