"""The ingest run: walk paths, hash, load, split, embed in batches, write in step, report.

Decisions are by content hash: an unchanged file costs one hash; a renamed file (same hash, old
path gone) is re-pointed without re-embedding; a changed file's passages are replaced in one
catalog transaction, so readers see the old or the new document, never a mix.

A file may change or vanish between the walk and its load. What is indexed is always the bytes
one read gave, recorded with their own hash (so the next run sees any later change); a read
during which the file changed (its size, mtime or inode moved) is done again, and a file that
keeps changing fails with that reason, keeping what was indexed of it before.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ingest.chunking import Chunker, ChunkingConfig
from ingest.loaders import FileBytes, LoadedDocument, load, parse, read, real_path
from ingest.metadata import RULES_VERSION
from ingest.walk import collect, excluded, failure
from values.document import DocumentRecord
from values.errors import IngestError
from values.passage import Passage
from values.report import IngestReport, Progress
from values.store import DocumentStore

_BATCH_PASSAGES = 256
_READS = 3  # a file that changes while it is read is read again, this many times in all


@dataclass(frozen=True)
class Prepared:
    """One file loaded and split, ready to commit; ``vectors`` by passage id when a job embedded it already."""

    doc: LoadedDocument
    content_hash: str
    size: int
    mtime: float
    passages: list[Passage]
    existed: bool
    vectors: Mapping[str, list[float]] | None = None


Outcome = Prepared | dict[str, str]  # a file prepared, or its report entry in ``failed``


class PrepareJob(Protocol):
    """Where a run's files are loaded, split and embedded when not in this process (``ingest.ray_job``)."""

    def prepare(self, todo: Sequence[tuple[Path, bool]], config: ChunkingConfig,
                keyword_only: frozenset[str]) -> Iterator[Outcome]:
        """Each file's outcome in ``todo``'s order, its passages embedded except the ``keyword_only`` kinds."""


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:  # a pipe put there gives b"", never waits
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Ingestor:
    """Runs ingests against one index with one chunker."""

    def __init__(self, store: DocumentStore, chunker: Chunker, exclude: Sequence[str] = (),
                 job: PrepareJob | None = None) -> None:
        self.store = store
        self.chunker = chunker
        self.exclude = tuple(exclude)
        self.job = job  # None: load, split and embed here; else the job does, and this process commits

    def run(self, paths: Iterable[Path], *, sync: bool = False, rebuild: bool = False,
            progress: Progress | None = None, exclude: Sequence[str] = ()) -> IngestReport:
        """Ingest ``paths``; with ``sync``, drop indexed documents under them that are gone.

        ``exclude`` patterns (on top of the configured ones) are remembered with the folders
        given, for later syncs; giving a folder again replaces them.
        """
        started = time.time()
        given = [Path(p).expanduser() for p in paths]
        roots = [real_path(p) for p in given]
        patterns = (*self.exclude, *exclude)
        report = IngestReport()
        with self.store.writing():
            # a document some of whose vectors are gone is forgotten and, if its file is still
            # there, indexed again below: never presented as complete
            self.store.prepare(rebuild)
            self._refresh_metadata()
            files, report.failed = collect(given, patterns)  # a link named is reported as a link
            known = self.store.documents()
            if sync:  # a folder or file that is gone is what a sync removes, not a failure
                known_roots = set(self.store.folders()) | set(known)
                report.failed = [f for f in report.failed
                                 if not (f["source"] in known_roots and _gone(f["source"]))]
            by_hash: dict[str, list[str]] = {}
            for record in known.values():
                by_hash.setdefault(record.content_hash, []).append(record.source)
            gone = {s for s in known if _gone(s)}
            todo: list[tuple[Path, bool]] = []
            for path in files:
                source = str(path)
                try:
                    digest = file_hash(path)
                except FileNotFoundError:
                    report.failed.append(failure(source, "file not found (removed during the ingest)"))
                    continue
                except OSError as e:
                    report.failed.append(failure(source, f"cannot read file ({e.strerror or e})"))
                    continue
                indexed = known.get(source)
                if indexed is not None and indexed.content_hash == digest:
                    report.unchanged += 1
                    continue
                moved_from = next((s for s in by_hash.get(digest, []) if s in gone), None)
                if indexed is None and moved_from is not None:
                    self.store.rename(moved_from, source, path.stat().st_mtime)
                    gone.discard(moved_from)
                    by_hash[digest].remove(moved_from)
                    report.renamed += 1
                    continue
                todo.append((path, indexed is not None))
            self._write(todo, report, progress)
            if sync:  # gone, or now excluded from a folder synced
                folders = [root for root in roots if root.is_dir()] if patterns else []
                doomed = [s for s in known if (s in gone and any(_under(s, root) for root in roots))
                          or any(_under(s, folder) and excluded(Path(s), folder, patterns) for folder in folders)]
                report.removed += self.store.remove(doomed)
            else:  # kept until a sync, but never silently
                report.stale = sorted(s for s in gone if any(_under(s, root) for root in roots))
            self._record_folders(roots, sync, exclude)
            report.passages = self.store.passage_count()
            report.seconds = round(time.time() - started, 3)
            self.store.record_run(started, report.seconds, report.to_json())
        return report

    def _refresh_metadata(self) -> None:
        """Read the dates of documents indexed under older metadata rules (once per rules version).

        Only loading, no embedding: a file that cannot be loaded now keeps what it had and is
        reported by the ingest that re-indexes it.
        """
        if self.store.get_meta("metadata_rules") == str(RULES_VERSION):
            return
        dates: dict[str, str | None] = {}
        for source in self.store.documents():
            try:
                dates[source] = load(Path(source)).date
            except (IngestError, OSError):
                continue
        self.store.set_dates(dates)
        self.store.set_meta("metadata_rules", str(RULES_VERSION))

    def _record_folders(self, roots: list[Path], sync: bool, exclude: Sequence[str]) -> None:
        """Remember the folders given, with their exclude patterns; forget gone ones on a sync.

        A folder inside a recorded one adds nothing: the outer folder's run covers it.
        """
        recorded = self.store.folders()
        for root in roots:
            if root.is_dir():
                recorded[str(root)] = list(exclude)
            elif sync:
                recorded.pop(str(root), None)
        kept = {f: p for f, p in recorded.items() if not any(_under(f, Path(o)) for o in recorded if o != f)}
        self.store.set_folders(kept)

    def sync_all(self, progress: Progress | None = None) -> IngestReport:
        """Re-read the recorded folders and each document ingested on its own; drop what is gone.

        Each folder keeps the exclude patterns it was given with (one run per set of patterns).
        Never the parent folder of a document given on its own: that would add the files beside it.
        """
        folders = self.store.folders()
        loose = [Path(s) for s in self.store.documents()
                 if not any(_under(s, Path(folder)) for folder in folders)]
        groups: dict[tuple[str, ...], list[Path]] = {}
        for folder, patterns in folders.items():
            groups.setdefault(tuple(patterns), []).append(Path(folder))
        runs: list[tuple[tuple[str, ...], list[Path]]] = list(groups.items()) or [((), [])]
        total = IngestReport()
        for at, (group, paths) in enumerate(runs):
            extra = loose if at == 0 else []  # a file named on its own is taken whatever the patterns
            total = total.plus(self.run([*paths, *extra], sync=True, progress=progress, exclude=group))
        return total

    def remove(self, path: Path) -> int:
        """Remove one document explicitly (under the writer lock)."""
        with self.store.writing():
            return self.store.remove([str(real_path(Path(path).expanduser()))])

    def _write(self, todo: list[tuple[Path, bool]], report: IngestReport,
               progress: Progress | None) -> None:
        """Load and split (or have the job do it), then commit in batches of about ``_BATCH_PASSAGES``."""
        if not todo:
            return
        outcomes = (self.job.prepare(todo, self.chunker.config, self.store.keyword_only) if self.job is not None
                    else (prepare(path, existed, self.chunker) for path, existed in todo))
        batch: list[Prepared] = []
        size = 0
        for done, ((path, _), outcome) in enumerate(zip(todo, outcomes, strict=True), start=1):
            if isinstance(outcome, Prepared):
                batch.append(outcome)
                size += len(outcome.passages)
            else:
                report.failed.append(outcome)
            if size >= _BATCH_PASSAGES or (done == len(todo) and batch):
                self._commit(batch, report)
                batch, size = [], 0
            if progress is not None:
                progress(done, len(todo), str(path))

    def _commit(self, batch: list[Prepared], report: IngestReport) -> None:
        """Hand one batch of documents to the store, which writes them in one step."""
        documents = []
        vectors: dict[str, list[float]] | None = None
        for pending in batch:
            doc = pending.doc
            record = DocumentRecord(doc.source, pending.content_hash, doc.title, doc.doc_type, doc.encoding,
                                    pending.size, pending.mtime, len(pending.passages), time.time(), doc.date)
            documents.append((record, pending.passages))
            if pending.vectors is not None:
                vectors = vectors if vectors is not None else {}
                vectors.update(pending.vectors)
        report.embedded += self.store.write(documents, vectors)
        for pending in batch:
            if pending.existed:
                report.updated += 1
            else:
                report.added += 1


def prepare(path: Path, existed: bool, chunker: Chunker) -> Outcome:
    """Read, parse and split one file, or say why it failed (the same words wherever it runs)."""
    try:
        return _prepare(path, existed, chunker)
    except IngestError as e:
        return failure(path, e.reason, e.detail)
    except OSError as e:
        return failure(path, f"cannot read file ({e.strerror or e})")


def _prepare(path: Path, existed: bool, chunker: Chunker) -> Prepared:
    """Read, parse and split one file; its bytes are dropped on return, only text and passages stay."""
    raw = _read_steady(path)
    doc = parse(path, raw.data)
    passages = chunker.split(doc)
    if not passages:
        raise IngestError("no text to index", path)
    # the hash of the bytes indexed, not the walk's: a change since then is seen by the next run
    digest = hashlib.sha256(raw.data).hexdigest()
    return Prepared(doc, digest, raw.stat.st_size, raw.stat.st_mtime, passages, existed)


def _read_steady(path: Path) -> FileBytes:
    """The file's bytes from a read during which it did not change (IngestError when it kept changing)."""
    for _ in range(_READS):
        raw = read(path)
        try:
            after = os.stat(path)
        except FileNotFoundError as e:
            raise IngestError("file removed while it was read", path) from e
        if _same(raw.stat, after):
            return raw
    raise IngestError(f"the file changed while it was read ({_READS} times; is a program still writing it?): "
                      "the next ingest reads it again, and what was indexed of it stays until then", path)


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    return ((before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns)
            == (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns))


def _gone(source: str) -> bool:
    """Whether the file is no longer there; one behind a folder we may not read is not known to be gone."""
    try:
        os.stat(source)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:  # permission denied, a link loop: unreachable now, so kept and reported, never removed
        return False
    return False


def _under(source: str, root: Path) -> bool:
    path = Path(source)
    return path == root or root in path.parents
