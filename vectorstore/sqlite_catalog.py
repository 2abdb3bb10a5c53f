"""The embedded catalog: SQLite in the data dir, one writer and many readers (WAL).

The catalog is the source of truth for what a reader may see. A document's passages become visible
in the same transaction that records the document, so a reader never sees half a document; the
Chroma vectors are written before that commit and orphaned vectors are swept on the next run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from values.document import DocumentRecord, StoredPassage
from values.errors import StoreError
from values.passage import Passage
from vectorstore.documents_cache import DocumentsCache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, content_hash TEXT NOT NULL, title TEXT NOT NULL, doc_type TEXT NOT NULL,
    encoding TEXT, size INTEGER NOT NULL, mtime REAL NOT NULL, passages INTEGER NOT NULL,
    ingested_at REAL NOT NULL, date TEXT);
CREATE INDEX IF NOT EXISTS documents_hash ON documents(content_hash);
CREATE TABLE IF NOT EXISTS passages (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, ord INTEGER NOT NULL, start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, page INTEGER, section TEXT, item TEXT, kind TEXT NOT NULL,
    text TEXT NOT NULL, context TEXT NOT NULL, answer_id TEXT, dense INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS passages_source ON passages(source, ord);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, seconds REAL NOT NULL,
    report TEXT NOT NULL, settings TEXT NOT NULL);
"""


class SqliteCatalog:
    """The catalog in one SQLite file; safe for one writer and many readers (WAL) across processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = FileLock(path.with_name("ingest.lock"))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._documents = DocumentsCache(lambda: self.version, self.snapshot, self._read_documents)
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a catalog written by an older vraagbaak up to this schema (idempotent)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        if "date" not in columns:
            try:
                self._db.execute("ALTER TABLE documents ADD COLUMN date TEXT")
            except sqlite3.OperationalError as e:  # another process migrated it just now
                if "duplicate column" not in str(e):
                    raise

    @property
    def _db(self) -> sqlite3.Connection:
        """The calling thread's own connection.

        A transaction is per connection: a chat request thread sharing the watcher's connection
        would read its half-written transaction.
        """
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def writer_lock(self, wait: bool = True) -> Iterator[None]:
        """Serialise writers across processes (a lock file beside the database): two ingests never interleave."""
        try:
            with self._lock.acquire(timeout=-1 if wait else 0):
                yield
        except Timeout as e:
            raise StoreError(f"another ingest is running on {self.path.parent}") from e

    @contextmanager
    def transaction(self) -> Iterator[_SqliteWrite]:
        """One atomic write; bumps the index version so readers know to refresh."""
        self._db.execute("BEGIN IMMEDIATE")
        self._local.writing = True  # reads now see this transaction's writes: ``documents`` reads afresh
        try:
            yield _SqliteWrite(self._db)
            version = self.version + 1
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (str(version),))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._local.writing = False

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every query inside sees one committed state (WAL snapshot).

        Nested inside another transaction on this thread, it joins that one.
        """
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """Increases with every committed change; readers compare it to refresh caches."""
        return int(self.get_meta("version") or 0)

    def get_meta(self, key: str) -> str | None:
        """A stored setting, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- documents --------------------------------------------------------------------------
    def documents(self) -> Mapping[str, DocumentRecord]:
        """Every indexed document by source path, read once per version (``DocumentsCache``); read-only."""
        if getattr(self._local, "writing", False):
            return self._read_documents()
        return self._documents.get()

    def _read_documents(self) -> dict[str, DocumentRecord]:
        rows = self._db.execute("SELECT * FROM documents").fetchall()
        return {row[0]: DocumentRecord(*row) for row in rows}

    def document_count(self) -> int:
        """How many documents are indexed."""
        return int(self._db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def passage_count(self) -> int:
        """How many passages are indexed."""
        return int(self._db.execute("SELECT count(*) FROM passages").fetchone()[0])

    def passage_ids(self, source: str | None = None, dense_only: bool = False) -> set[str]:
        """Ids of all passages (or one document's)."""
        sql, args = "SELECT id FROM passages WHERE 1=1", []
        if source is not None:
            sql, args = sql + " AND source = ?", [source]
        if dense_only:
            sql += " AND dense = 1"
        return {row[0] for row in self._db.execute(sql, args)}

    def dense_ids_of(self, sources: Iterable[str]) -> dict[str, str]:
        """The passages with a vector of many documents at once: passage id -> source."""
        wanted = list(dict.fromkeys(sources))
        out: dict[str, str] = {}
        for at in range(0, len(wanted), 500):
            chunk = wanted[at:at + 500]
            out.update(self._db.execute(f"SELECT id, source FROM passages WHERE dense = 1 AND source IN "
                                        f"({','.join('?' * len(chunk))})", chunk).fetchall())
        return out

    # -- passages ---------------------------------------------------------------------------
    def passages_by_id(self, ids: Iterable[str]) -> dict[str, StoredPassage]:
        """Rows for the given ids; ids that are not (or no longer) indexed are absent."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, StoredPassage] = {}
        for at in range(0, len(wanted), 500):
            chunk = wanted[at:at + 500]
            marks = ",".join("?" * len(chunk))
            sql = ("SELECT p.*, d.title, d.doc_type FROM passages p JOIN documents d USING (source) "
                   f"WHERE p.id IN ({marks})")
            for row in self._db.execute(sql, chunk):
                out[row[0]] = _row(row)
        return out

    def passages_of(self, source: str) -> list[StoredPassage]:
        """One document's passages in order."""
        sql = ("SELECT p.*, d.title, d.doc_type FROM passages p JOIN documents d USING (source) "
               "WHERE p.source = ? ORDER BY p.ord")
        return [_row(row) for row in self._db.execute(sql, (source,))]

    def keyword_rows(self) -> list[tuple[str, str, str]]:
        """(id, source, text to index) for every passage, in a stable order."""
        rows = self._db.execute("SELECT id, source, context, text FROM passages ORDER BY source, ord")
        return [(r[0], r[1], f"{r[2]}\n{r[3]}" if r[2] else r[3]) for r in rows]

    # -- runs -------------------------------------------------------------------------------
    def record_run(self, started_at: float, seconds: float, report: dict[str, object],
                   settings: dict[str, object]) -> None:
        """Append one ingest run to the history."""
        self._db.execute(
            "INSERT INTO runs (started_at, seconds, report, settings) VALUES (?,?,?,?)",
            (started_at, seconds, json.dumps(report), json.dumps(settings, default=str)))

    def last_runs(self, limit: int = 5) -> list[dict[str, object]]:
        """The most recent ingest runs, newest first."""
        rows = self._db.execute(
            "SELECT started_at, seconds, report, settings FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [{"started_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r[0])),
                 "seconds": round(r[1], 2), **json.loads(r[2]), "settings": json.loads(r[3])}
                for r in rows]


class _SqliteWrite:
    """The writes of one open catalog transaction (see ``SqliteCatalog.transaction``)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def replace_document(self, record: DocumentRecord, rows: Iterable[StoredPassage]) -> None:
        """Drop the document's old passages, write the new ones."""
        self._db.execute("DELETE FROM passages WHERE source = ?", (record.source,))
        self._db.executemany(
            'INSERT OR REPLACE INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
            [(r.passage_id, r.passage.source, r.ord, r.passage.start, r.passage.end, r.passage.page,
              r.passage.section, r.passage.item, r.passage.kind, r.passage.text, r.passage.context,
              r.answer_id, int(r.dense)) for r in rows],
        )
        self._db.execute("INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)", (
            record.source, record.content_hash, record.title, record.doc_type, record.encoding,
            record.size, record.mtime, record.passages, record.ingested_at, record.date))

    def set_dates(self, dates: Mapping[str, str | None]) -> None:
        """Record the dates documents state (metadata read again)."""
        self._db.executemany("UPDATE documents SET date = ? WHERE source = ?",
                             [(d, source) for source, d in dates.items()])

    def remove_document(self, source: str) -> None:
        """Forget a document and its passages."""
        self._db.execute("DELETE FROM passages WHERE source = ?", (source,))
        self._db.execute("DELETE FROM documents WHERE source = ?", (source,))

    def move_document(self, old: str, new: str, mtime: float, new_ids: Mapping[str, str]) -> None:
        """Re-point a renamed document and give its passages new ids.

        ``new_ids`` maps each old passage id to the one the new path gives: ids hash the source,
        and a file later created at the old path must not collide with the moved passages.
        """
        self._db.execute("UPDATE documents SET source = ?, mtime = ? WHERE source = ?", (new, mtime, old))
        self._db.executemany("UPDATE passages SET id = ?, source = ?, answer_id = ? WHERE id = ?", [
            (new_ids[pid], new, new_ids.get(answer_id, answer_id) if answer_id else None, pid)
            for pid, answer_id in self._db.execute(
                "SELECT id, answer_id FROM passages WHERE source = ?", (old,)).fetchall()])


def _row(row: tuple) -> StoredPassage:  # type: ignore[type-arg]
    (pid, source, ord_, start, end, page, section, item, kind, text, context, answer_id, dense,
     title, doc_type) = row
    passage = Passage(source=source, start=start, end=end, text=text, page=page, section=section,
                      item=item, kind=kind, context=context, title=title, doc_type=doc_type)
    return StoredPassage(passage, pid, ord_, bool(dense), answer_id)
